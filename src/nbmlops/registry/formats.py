"""Model files: skops' secure format by default, pickle only when the user trusts it.

A skops file is loaded with exactly the types it held when it was registered (recorded
then; skops itself refuses any other type), after its bytes are checked against the
sha256 recorded at registration. Unpickling runs arbitrary code, so a pickle is neither
written nor read unless the caller passes ``trusted=True``.
"""

from __future__ import annotations

import pickle
from typing import Any

from nbmlops.errors import UnsafeModelError

FORMATS = ("skops", "pickle")
MEDIA_TYPES = {"skops": "application/vnd.nbmlops.model+skops",
               "pickle": "application/vnd.nbmlops.model+pickle"}


def dump(model: Any, fmt: str, *, trusted: bool = False) -> tuple[bytes, tuple[str, ...]]:
    """(file bytes, the types to trust when loading it)."""
    if fmt == "skops":
        import skops.io as sio

        try:
            data = sio.dumps(model)
        except Exception as exc:  # a model skops cannot represent
            raise UnsafeModelError(
                f"skops cannot save this {type(model).__name__} ({exc}); register it as a "
                "pickle with format='pickle', trusted=True if you trust its code") from exc
        return data, tuple(sorted(sio.get_untrusted_types(data=data)))
    if fmt == "pickle":
        if not trusted:
            raise UnsafeModelError("a pickle runs code when it is loaded: register it with "
                                   "trusted=True (--trusted) only if you trust this model, "
                                   "or use the default skops format")
        return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), ()
    raise ValueError(f"unknown model format {fmt!r}; use one of {', '.join(FORMATS)}")


def refuse_pickle(reference: str) -> UnsafeModelError:
    return UnsafeModelError(
        f"{reference} is stored as a pickle, and loading a pickle runs its code: load it "
        "with trusted=True only if you trust whoever registered it", reference=reference)


def load(data: bytes, fmt: str, trusted_types: tuple[str, ...], *, trusted: bool,
         reference: str) -> Any:
    """A model object from verified file bytes (see the module docstring for the rules)."""
    if fmt == "pickle":
        if not trusted:
            raise refuse_pickle(reference)
        return pickle.loads(data)  # the caller said it trusts this file
    if fmt != "skops":
        raise UnsafeModelError(f"{reference} has an unknown format {fmt!r}; refusing to "
                               "load it", reference=reference)
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    if not trusted:
        # skops audits every type in the file against the list: one pass, no pre-scan
        try:
            return sio.loads(data, trusted=list(trusted_types))
        except UntrustedTypesFoundException:
            pass  # name the types below
        except Exception as exc:
            raise _invalid(reference, exc) from exc
    try:
        found = set(sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise _invalid(reference, exc) from exc
    unexpected = sorted(found - set(trusted_types))
    if unexpected and not trusted:
        raise UnsafeModelError(
            f"{reference} holds types it did not hold when it was registered: "
            f"{', '.join(unexpected)}; refusing to load it (trusted=True overrides)",
            reference=reference)
    return sio.loads(data, trusted=sorted(found))


def _invalid(reference: str, exc: Exception) -> UnsafeModelError:
    return UnsafeModelError(f"{reference} is not a valid skops file ({exc}); refusing to "
                            "load it", reference=reference)
