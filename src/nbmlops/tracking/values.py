"""What a value in the notebook's namespace is, for capture purposes.

None of these functions imports pandas, numpy or scikit-learn: if the user has not
imported a library, no value can be one of its types, so we look in ``sys.modules``.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Mapping
from typing import Any

from nbmlops.errors import ParamValueError

MAX_PARAM_JSON = 1000
MAX_CONTAINER_ITEMS = 32
MAX_PARAM_CHARS = 100_000  # a logged param's JSON; longer belongs in an artifact
MAX_PARAM_DEPTH = 32
_MAX_PARAM_INT = 10 ** (MAX_PARAM_JSON - 1)  # its JSON, sign included, fits MAX_PARAM_JSON
_SKIP_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type,
               types.MethodType)
IGNORED_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "display"})


def ignorable_name(name: str) -> bool:
    """IPython's own and private names (``_``, ``_i3``, ``In``, ...) are never captured."""
    return name.startswith("_") or name in IGNORED_NAMES


def _np() -> Any:
    return sys.modules.get("numpy")


def _plain(value: Any, depth: int = 0) -> tuple[bool, Any]:
    """(ok, JSON-able copy) for scalars and small containers of scalars."""
    if value is None or isinstance(value, bool):
        return True, value
    # subclasses (np.float64, np.str_, enums) become the plain type JSON would store
    if isinstance(value, str):
        return len(value) <= MAX_PARAM_JSON, str.__str__(value)
    if isinstance(value, int):
        return -_MAX_PARAM_INT < value < _MAX_PARAM_INT, int.__index__(value)
    if isinstance(value, float):
        return True, float(value)
    np = _np()
    if np is not None and isinstance(value, np.generic):
        if isinstance(value, np.bool_):
            return True, bool(value)
        if isinstance(value, np.integer):
            return True, int(value)
        if isinstance(value, np.floating):
            return True, float(value)
        if isinstance(value, np.str_):
            return True, str(value)
        return False, None
    if depth >= 2:
        return False, None
    if isinstance(value, list | tuple):
        if len(value) > MAX_CONTAINER_ITEMS:
            return False, None
        out = []
        for item in value:
            ok, plain = _plain(item, depth + 1)
            if not ok:
                return False, None
            out.append(plain)
        return True, out
    if isinstance(value, dict):
        if len(value) > MAX_CONTAINER_ITEMS or not all(isinstance(k, str) for k in value):
            return False, None
        outd = {}
        for key, item in value.items():
            ok, plain = _plain(item, depth + 1)
            if not ok:
                return False, None
            outd[key] = plain
        return True, outd
    return False, None


def as_param(value: Any) -> tuple[bool, Any]:
    """Is ``value`` a param (JSON-able scalar or small container)? Returns (ok, value)."""
    ok, plain = _plain(value)
    if ok and isinstance(plain, list | dict) and len(json.dumps(plain)) > MAX_PARAM_JSON:
        return False, None
    return ok, plain


def coerce_param(value: Any) -> Any:
    """Any value as something to show: itself when a small JSON-able value, else a short
    repr. For display only: what a run records goes through :func:`to_param`."""
    ok, plain = as_param(value)
    if ok:
        return plain
    try:
        text = repr(value)
    except Exception:  # a broken __repr__, or an int too long to print
        text = f"<{type(value).__qualname__} object>"
    return text if len(text) <= MAX_PARAM_JSON else text[: MAX_PARAM_JSON - 1] + "…"


def to_param(key: str, value: Any) -> Any:
    """``value`` as the JSON it is stored as, unchanged in meaning, or ParamValueError.

    Strings, numbers, booleans, None and lists/tuples/dicts (string keys) of these, at any
    depth, are kept whole (a tuple is stored as the list JSON makes of it). Anything else
    is refused with what to do instead: a param is never silently turned into a repr or cut.
    """
    plain = _exact(key, value, 0, set())
    try:
        size = len(json.dumps(plain, ensure_ascii=False))
    except ValueError as exc:  # an int with more digits than Python will print
        raise ParamValueError(key, f"it cannot be written as JSON ({exc})",
                              "log it as text, or as a file with nbmlops.log_artifact") from None
    if size > MAX_PARAM_CHARS:
        raise ParamValueError(
            key, f"it is {size:,} characters as JSON; a param holds at most "
                 f"{MAX_PARAM_CHARS:,}", "store it as a file with nbmlops.log_artifact")
    return plain


def _exact(key: str, value: Any, depth: int, seen: set[int]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise ParamValueError(key, f"it is {type(value).__name__}",
                              "store bytes as a file with nbmlops.log_artifact")
    np = _np()
    if np is not None and isinstance(value, np.bool_ | np.integer | np.floating | np.str_):
        return value.item()
    if isinstance(value, list | tuple | dict):
        if depth >= MAX_PARAM_DEPTH or id(value) in seen:
            raise ParamValueError(key, f"it nests deeper than {MAX_PARAM_DEPTH} levels (or "
                                       "holds itself)", "log its parts as separate params")
        seen = seen | {id(value)}
        if isinstance(value, dict):
            bad = next((k for k in value if not isinstance(k, str)), None)
            if bad is not None:
                raise ParamValueError(
                    key, f"it is a dict with a {type(bad).__name__} key ({bad!r:.40}); JSON "
                         "keys are strings", "convert its keys with str() yourself")
            return {k: _exact(key, v, depth + 1, seen) for k, v in value.items()}
        return [_exact(key, v, depth + 1, seen) for v in value]
    if np is not None and isinstance(value, np.ndarray):
        hint = "log it with nbmlops.log_input, or value.tolist() if it is a short setting"
    elif is_estimator(value):
        hint = "log value.get_params() instead"
    else:
        hint = "log a JSON-able form of it (a str, number, list or dict)"
    raise ParamValueError(key, f"it is a {type(value).__qualname__}, which is not JSON", hint)


def as_metric(value: Any) -> float | None:
    """A float-valued result (Python or NumPy float; not bool, not int) as float."""
    if isinstance(value, float):
        return value
    np = _np()
    if np is not None and isinstance(value, np.floating):
        return float(value)
    return None


def to_metric_value(key: str, value: Any) -> float:
    """Any real number as a metric value, or a clear error."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str | bytes | bytearray):  # float("0.9") would parse text
        raise TypeError(f"metric {key!r} must be a number, not {type(value).__name__} "
                        f"({value!r:.60}); convert it with float() if it holds one")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"metric {key!r} must be a number, not {type(value).__name__} ({value!r:.60})"
        ) from None
    return number


def is_dataset(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame | pd.Series):
        return True
    np = _np()
    return np is not None and isinstance(value, np.ndarray) and value.ndim >= 1


def is_estimator(value: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(value, base.BaseEstimator) and not isinstance(
        value, type)


def is_fitted(estimator: Any) -> bool:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


def estimator_params(prefix: str, estimator: Any) -> dict[str, Any]:
    """``{prefix: ClassName, prefix.param: value, ...}`` for the JSON-able params."""
    out: dict[str, Any] = {prefix: type(estimator).__name__}
    try:
        params: Mapping[str, Any] = estimator.get_params(deep=True)
    except Exception:  # a broken third-party estimator must not break tracking
        return out
    for key, value in params.items():
        ok, plain = as_param(value)
        if ok:
            out[f"{prefix}.{key}"] = plain
        elif is_estimator(value):
            out[f"{prefix}.{key}"] = type(value).__name__
    return out


def is_capturable(value: Any) -> bool:
    """Cheap pre-filter: modules, functions and classes are never inputs or outputs."""
    return not isinstance(value, _SKIP_TYPES)
