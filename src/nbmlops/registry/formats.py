"""Model files: skops' secure format by default, pickle only when the user trusts it.

Loading never runs code the caller did not agree to. A load trusts, by default, only
well-known types: skops' own list, and the classes of scikit-learn, NumPy, SciPy and the
standard library. Any other type a file holds (a class of the user's own, another
library's) is refused with an :class:`~nbmlops.errors.UnsafeModelError` naming it,
unless the caller trusts it for this model: ``trusted=["pkg.Class", ...]`` names the
types to trust as well, ``trusted=True`` trusts the whole file.

A skops file is also checked against the types it held when it was registered (a type
it did not hold then is refused, whatever the list says; only ``trusted=True``
overrides). A pickle runs arbitrary code when it is loaded, so it is read only with
``trusted=True`` (then as it is) or with a list (then restricted to the well-known
scikit-learn, NumPy and SciPy classes and their unpickling helpers, plus the names
listed, and checked before a byte of it is unpickled).

Formats are plugins (:mod:`nbmlops.plugins`): an object following :class:`ModelFormat`,
added with :func:`register_format` (on the ``nbmlops.registry`` surface) or by an installed
package's entry point in the group ``nbmlops.model_formats``. A format keeps the promise
above for its own files: ``load`` and ``audit`` refuse what ``trusted`` does not allow.
"""

from __future__ import annotations

import functools
import importlib
import io
import pickle
import pickletools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, runtime_checkable

from nbmlops.errors import UnsafeModelError
from nbmlops.plugins import Plugins

Trust: TypeAlias = bool | Sequence[str]
"""What a caller trusts: False (well-known types only), True (everything), or the names
of the other types to trust as well."""


@runtime_checkable
class ModelFormat(Protocol):
    """How a model becomes a file and back.

    ``media_type``: the file's media type in the artifact store; ``file_name``: its name
    in an exported bundle (``model.skops``). ``dump`` returns the file's bytes and the
    type names it holds beyond what is trusted by default (recorded with the version and
    given back to ``load``/``audit`` as ``recorded``). ``load`` returns the model, and
    ``audit`` refuses without loading (an :class:`~nbmlops.errors.UnsafeModelError`
    naming ``reference``) a file holding what ``trusted`` does not allow."""

    @property
    def media_type(self) -> str: ...

    @property
    def file_name(self) -> str: ...

    def dump(self, model: Any, *, trusted: Trust) -> tuple[bytes, tuple[str, ...]]: ...

    def load(self, data: bytes, recorded: tuple[str, ...], *, trusted: Trust,
             reference: str) -> Any: ...

    def audit(self, data: bytes, recorded: tuple[str, ...], *, trusted: Trust,
              reference: str) -> None: ...


def _unknown_name(name: str, known: Sequence[str]) -> ValueError:
    return ValueError(f"unknown model format {name!r}; use one of {', '.join(known)}")


def _check_file_name(name: str, fmt: ModelFormat) -> None:
    file_name = fmt.file_name
    if not isinstance(file_name, str) or not file_name or file_name in (".", "..") or any(
            c in file_name for c in "/\\\0"):
        raise ValueError(f"model format {name!r}: file_name must be a plain file name "
                         f"(e.g. model.{name}), not {file_name!r}")


_FORMATS: Plugins[ModelFormat] = Plugins("model format", "nbmlops.model_formats",
                                         ModelFormat, unknown=_unknown_name,
                                         validate=_check_file_name)


def register_format(name: str, fmt: ModelFormat) -> ModelFormat:
    """Add (or replace) the model format ``name`` (``register(..., format=NAME)``);
    installed packages can instead declare it as an entry point in the group
    ``nbmlops.model_formats``."""
    return _FORMATS.register(name, fmt)


def format_names() -> tuple[str, ...]:
    """The model formats' names: the built-ins, then those registered or installed."""
    return _FORMATS.names()


def get_format(name: str) -> ModelFormat:
    """The format ``name``, or a ValueError naming the known formats."""
    return _FORMATS.lookup(name)


def _for_reading(fmt: str, reference: str) -> ModelFormat:
    """The format a stored file says it is in; an UnsafeModelError when none is known."""
    try:
        return _FORMATS.lookup(fmt)
    except ValueError:
        raise UnsafeModelError(
            f"{reference} has an unknown format {fmt!r} (known: "
            f"{', '.join(format_names())}); refusing to load it: install the plugin that "
            "provides it", reference=reference
        ) from None

_LIBRARIES = ("sklearn", "numpy", "scipy")
# standard-library modules that do something when imported: never imported to check a name
_NO_IMPORT = frozenset({"__main__", "antigravity", "this", "idlelib", "turtle", "turtledemo",
                        "tkinter", "__hello__", "__phello__"})
# what a pickle of a scikit-learn model calls besides classes (NumPy's and Cython's
# reconstructors, which build an object from its state and do nothing else)
_PICKLE_HELPERS = frozenset({
    "copyreg._reconstructor",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    "numpy.random._pickle.__generator_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__randomstate_ctor",
})
# standard-library classes a pickle may call: plain data, no files, processes or imports
_PICKLE_STDLIB = frozenset({
    f"builtins.{n}" for n in ("object", "set", "frozenset", "list", "dict", "tuple", "int",
                              "float", "complex", "str", "bytes", "bytearray", "bool",
                              "slice", "range")} | {
    "collections.OrderedDict", "collections.defaultdict", "collections.Counter",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta",
    "datetime.timezone", "decimal.Decimal", "fractions.Fraction"})


def check_trust(trusted: object) -> Trust:
    """``trusted`` as given, or a ValueError saying what it may be."""
    if isinstance(trusted, bool):
        return trusted
    if isinstance(trusted, Iterable) and not isinstance(trusted, str | bytes):
        names = tuple(trusted)
        if all(isinstance(n, str) and n.strip() for n in names):
            return names
    raise ValueError(f"trusted={trusted!r}: give True (trust every type in the file), False "
                     "(well-known types only) or a list of type names such as "
                     "['mypackage.MyTransformer']")


def _named(trusted: Trust) -> frozenset[str]:
    return frozenset() if isinstance(trusted, bool) else frozenset(trusted)


@functools.lru_cache(maxsize=2048)
def _resolve(name: str) -> Any:
    """The object a dotted name stands for (None if it cannot be found). Only called for
    names of well-known packages, whose modules are safe to import."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception:
            return None
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _well_known_library(name: str) -> bool:
    return name.split(".")[0] in _LIBRARIES


def _stdlib(name: str) -> bool:
    top = name.split(".")[0]
    return top in sys.stdlib_module_names and top not in _NO_IMPORT


def well_known(name: str) -> bool:
    """A class of scikit-learn, NumPy, SciPy or the standard library: trusted by default
    in a skops file (which builds objects from their state, never by calling them)."""
    if not (_well_known_library(name) or _stdlib(name)):
        return False
    return isinstance(_resolve(name), type)


def _pickle_well_known(name: str) -> bool:
    """What a restricted unpickling may call: the helpers above, plain standard-library
    data types, scikit-learn's classes and Cython unpicklers, NumPy's array, scalar and
    random-state types, SciPy's sparse matrices."""
    if name in _PICKLE_HELPERS or name in _PICKLE_STDLIB:
        return True
    top = name.split(".")[0]
    if top == "sklearn" or (top == "numpy" and ".random." in name):
        obj = _resolve(name)
        return isinstance(obj, type) or (name.rsplit(".", 1)[-1].startswith("__pyx_unpickle_")
                                         and callable(obj))
    if top == "numpy":
        import numpy as np

        obj = _resolve(name)
        return (isinstance(obj, type) and issubclass(obj, np.generic | np.dtype)) or (
            obj is np.ndarray)
    if name.startswith("scipy.sparse."):
        return isinstance(_resolve(name), type)
    return False


def _refused(reference: str, names: Iterable[str]) -> UnsafeModelError:
    listed = sorted(names)
    return UnsafeModelError(
        f"{reference} holds types that are not well-known, and loading them could run "
        f"their code: {', '.join(listed)}; if you trust whoever registered this model, load "
        f"it with trusted={listed!r} (or trusted=True to trust every type in it)",
        reference=reference)


def dump(model: Any, fmt: str, *, trusted: Trust = False) -> tuple[bytes, tuple[str, ...]]:
    """(file bytes, the types the file holds beyond what the format trusts by default)."""
    return get_format(fmt).dump(model, trusted=trusted)


def refuse_pickle(reference: str) -> UnsafeModelError:
    return UnsafeModelError(
        f"{reference} is stored as a pickle, and loading a pickle runs its code: load it "
        "with trusted=True only if you trust whoever registered it", reference=reference)


def load(data: bytes, fmt: str, recorded: tuple[str, ...], *, trusted: Trust,
         reference: str) -> Any:
    """A model object from verified file bytes (see the module docstring for the rules);
    ``recorded`` are the types the file held when it was registered."""
    trusted = check_trust(trusted)
    return _for_reading(fmt, reference).load(data, recorded, trusted=trusted,
                                             reference=reference)


def audit(data: bytes, fmt: str, recorded: tuple[str, ...], *, trusted: Trust,
          reference: str) -> None:
    """Refuse, as :func:`load` would, a file holding a type the caller does not trust;
    nothing in it is imported or run (a server checks this before it starts)."""
    trusted = check_trust(trusted)
    if trusted is True:
        return
    _for_reading(fmt, reference).audit(data, recorded, trusted=trusted, reference=reference)


# --- skops: the default -----------------------------------------------------------------

@dataclass(frozen=True)
class _Skops:
    media_type: str = "application/vnd.nbmlops.model+skops"
    file_name: str = "model.skops"

    def dump(self, model: Any, *, trusted: Trust) -> tuple[bytes, tuple[str, ...]]:
        import skops.io as sio

        try:
            data = sio.dumps(model)
        except Exception as exc:  # a model skops cannot represent
            raise UnsafeModelError(
                f"skops cannot save this {type(model).__name__} ({exc}); register it as a "
                "pickle with format='pickle', trusted=True if you trust its code") from exc
        return data, tuple(sorted(sio.get_untrusted_types(data=data)))

    def load(self, data: bytes, recorded: tuple[str, ...], *, trusted: Trust,
             reference: str) -> Any:
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        named = _named(trusted)
        if trusted is not True:
            allowed = [t for t in recorded if t in named or well_known(t)]
            # skops audits every type in the file against the list: one pass, no pre-scan
            try:
                return sio.loads(data, trusted=allowed)
            except UntrustedTypesFoundException:
                self.audit(data, recorded, trusted=trusted, reference=reference)  # names them
                raise UnsafeModelError(f"{reference}: skops refused a type in it; refusing "
                                       "to load it", reference=reference) from None
            except Exception as exc:
                raise _invalid(reference, exc) from exc
        try:
            return sio.loads(data, trusted=sorted(sio.get_untrusted_types(data=data)))
        except Exception as exc:
            raise _invalid(reference, exc) from exc

    def audit(self, data: bytes, recorded: tuple[str, ...], *, trusted: Trust,
              reference: str) -> None:
        if trusted is True:
            return
        import skops.io as sio

        try:
            found = set(sio.get_untrusted_types(data=data))
        except Exception as exc:
            raise _invalid(reference, exc) from exc
        unexpected = sorted(found - set(recorded))
        if unexpected:
            raise UnsafeModelError(
                f"{reference} holds types it did not hold when it was registered: "
                f"{', '.join(unexpected)}; refusing to load it (trusted=True overrides)",
                reference=reference)
        named = _named(trusted)
        refused = [t for t in found if t not in named and not well_known(t)]
        if refused:
            raise _refused(reference, refused)


# --- pickle: only when trusted ----------------------------------------------------------

@dataclass(frozen=True)
class _Pickle:
    media_type: str = "application/vnd.nbmlops.model+pickle"
    file_name: str = "model.pkl"

    def dump(self, model: Any, *, trusted: Trust) -> tuple[bytes, tuple[str, ...]]:
        if trusted is not True:
            raise UnsafeModelError("a pickle runs code when it is loaded: register it with "
                                   "trusted=True (--trusted) only if you trust this model, "
                                   "or use the default skops format")
        return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), ()

    def load(self, data: bytes, recorded: tuple[str, ...], *, trusted: Trust,
             reference: str) -> Any:
        if trusted is True:
            return pickle.loads(data)  # the caller said it trusts this file
        if trusted is False:
            raise refuse_pickle(reference)
        return load_pickle_restricted(data, extra=_named(trusted), reference=reference)

    def audit(self, data: bytes, recorded: tuple[str, ...], *, trusted: Trust,
              reference: str) -> None:
        if trusted is True:
            return
        if trusted is False:
            raise refuse_pickle(reference)
        _audit_pickle(data, _named(trusted), reference)


def pickle_globals(data: bytes) -> set[str]:
    """Every global (``module.name``) a pickle would look up, read without unpickling it;
    a lookup whose name is computed rather than written in the file shows as ``?``."""
    found: set[str] = set()
    memo: dict[int, str | None] = {}
    pushed: list[str | None] = []  # the strings on top of the stack, as far as known
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.add(f"{module}.{attr}")
            pushed = []
        elif name == "STACK_GLOBAL":
            if len(pushed) >= 2 and pushed[-2] is not None and pushed[-1] is not None:
                found.add(f"{pushed[-2]}.{pushed[-1]}")
            else:
                found.add("?")
            pushed = []
        elif "UNICODE" in name or name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
            pushed.append(str(arg))
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(str(arg))] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(int(str(arg))))
        else:
            pushed = []
    return found


def _audit_pickle(data: bytes, extra: frozenset[str], reference: str) -> None:
    try:
        names = pickle_globals(data)
    except Exception as exc:
        raise UnsafeModelError(f"{reference} is not a valid pickle ({exc}); refusing to load "
                               "it", reference=reference) from exc
    refused = {n for n in names if n not in extra and not _pickle_well_known(n)}
    if refused:
        raise _refused(reference, refused)


def load_pickle_restricted(data: bytes, *, extra: frozenset[str], reference: str) -> Any:
    """A pickle of well-known types (plus ``extra``), refused before it is unpickled if it
    names anything else."""
    _audit_pickle(data, extra, reference)

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            full = f"{module}.{name}"
            if full not in extra and not _pickle_well_known(full):  # never reached: checked
                raise _refused(reference, [full])
            return super().find_class(module, name)

    return Restricted(io.BytesIO(data)).load()


# -- pickled data (a run's snapshotted frames) ---------------------------------------------------

# pyarrow's unpickling helpers (an Arrow-backed pandas column pickles through them)
_ARROW_HELPERS = frozenset({"pyarrow.lib._restore_array", "pyarrow.lib.py_buffer",
                            "pyarrow.lib.type_for_alias"})
# pandas' modules that read or write files, evaluate expressions or change settings: nothing
# from them is data
_PANDAS_REFUSED = ("pandas.io", "pandas.core.computation", "pandas.plotting", "pandas._config",
                   "pandas.util", "pandas.api", "pandas.tests", "pandas.testing")
_DATA_HELPER_PREFIXES = ("_unpickle", "_new_", "__pyx_unpickle_", "_reconstruct")


@functools.lru_cache(maxsize=512)
def _data_well_known(name: str) -> bool:
    """What a pickled DataFrame, Series or array may name: what a model pickle may (NumPy's
    types and helpers, plain standard-library data), pandas' data types (indexes, frames,
    series, extension arrays and dtypes, blocks, timestamps, offsets) and their private
    unpickling helpers, and pyarrow's data types and array-rebuilding helpers. Never a
    pandas or pyarrow function that reads, writes or evaluates anything."""
    if _pickle_well_known(name) or name in _ARROW_HELPERS:
        return True
    top = name.split(".")[0]
    if top not in ("pandas", "pyarrow"):
        return False
    obj = _resolve(name)
    if obj is None:
        return False
    where = str(getattr(obj, "__module__", "") or "")
    if top == "pandas":
        if not where.startswith("pandas") or any(
                x == m or x.startswith(m + ".") for x in (name, where) for m in _PANDAS_REFUSED):
            return False
        if isinstance(obj, type):
            return _pandas_data_type(obj)
        return callable(obj) and name.rsplit(".", 1)[-1].startswith(_DATA_HELPER_PREFIXES)
    import pyarrow as pa

    return isinstance(obj, type) and issubclass(
        obj, pa.DataType | pa.Array | pa.ChunkedArray | pa.Scalar | pa.Field | pa.Schema)


def _pandas_data_type(cls: type) -> bool:
    import pandas as pd
    from pandas.api.extensions import ExtensionArray, ExtensionDtype
    from pandas.tseries.offsets import BaseOffset

    data = (pd.Index, pd.Series, pd.DataFrame, ExtensionArray, ExtensionDtype, pd.Timestamp,
            pd.Timedelta, pd.Period, pd.Interval, BaseOffset)
    if issubclass(cls, data):
        return True
    # the block managers and blocks a frame's pickle rebuilds its columns through
    return cls.__module__.startswith("pandas.core.internals.") or \
        cls.__module__.startswith("pandas._libs.internals")


def load_data_pickle(data: bytes, *, reference: str) -> Any:
    """Unpickle a DataFrame, Series or array that nbmlops pickled itself, refusing (before a
    byte is unpickled, and again as it is) a pickle that names anything but data types
    (see :func:`_data_well_known`): an UnsafeModelError naming what it would call."""
    try:
        names = pickle_globals(data)
    except Exception as exc:
        raise UnsafeModelError(f"{reference} is not a valid pickle ({exc}); refusing to load "
                               "it", reference=reference) from exc
    refused = sorted(n for n in names if not _data_well_known(n))
    if refused:
        raise UnsafeModelError(
            f"{reference} would call {', '.join(refused[:5])} when unpickled, which is not "
            "data; refusing to load it", reference=reference)

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            full = f"{module}.{name}"
            if not _data_well_known(full):  # never reached: checked above
                raise UnsafeModelError(f"{reference} would call {full}; refusing to load it",
                                       reference=reference)
            return super().find_class(module, name)

    return Restricted(io.BytesIO(data)).load()


def _invalid(reference: str, exc: Exception) -> UnsafeModelError:
    return UnsafeModelError(f"{reference} is not a valid skops file ({exc}); refusing to "
                            "load it", reference=reference)


register_format("skops", _Skops())
register_format("pickle", _Pickle())
