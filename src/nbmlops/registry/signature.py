"""A model version's signature: the columns (and dtypes) it reads, and what it predicts.

:func:`infer` reads a signature off a fitted model and its training data (a DataFrame, a
2-D array, or the data's :class:`~nbmlops._types.DatasetFingerprint`); :func:`enforce`
checks and prepares input for that model. Dtypes are named as pandas prints them
(``str(dtype)``, as fingerprints do): ``"float64"``, ``"int64"``, ``"bool"``, ``"str"``,
``"object"``, ``"category"``, ``"datetime64[us]"``, ``"Int64"``, …

:func:`enforce` converts a column only when no value changes on the way:

======================  ==============================================================
signature dtype         accepted input
======================  ==============================================================
float (``float64``…)    floats (narrower: only values that fit exactly), ints that the
                        float represents exactly (all within ±2**53 for float64), bools
int (``int64``…)        ints within range, bools, floats that are whole, finite and
                        within range
bool                    bools only (not 0/1, not 1.0)
``str`` / ``string``    text (str dtypes, or objects that are all ``str``)
``object``              text or objects, as they are
``category``            anything (cast with ``astype("category")``, values kept)
``any``                 anything, as it is (the column is known, its dtype is not: a
                        model registered without its training data)
datetime                datetimes (unit changed only if no value is truncated; a timezone
                        converted, never added or dropped), and text that
                        ``pandas.to_datetime`` parses without error
anything else           that very dtype
======================  ==============================================================

Numbers sent as text (``"1.5"``) are refused: JSON and Python callers send numbers as
numbers, and a number in a text column is usually a column mix-up. Missing values (NaN,
None, NaT) pass into float, object, text, category, datetime and nullable (``Int64``,
``boolean``) columns; a NumPy int or bool column cannot hold them, so they are refused.
Categorical input is read as its values.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nbmlops.errors import SignatureError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from nbmlops._types import DatasetFingerprint

__all__ = ["ANY", "Signature", "enforce", "infer"]

ANY = "any"  # a column whose dtype is not known: any values pass, as they are


@dataclass(frozen=True)
class Signature:
    """What a model reads and predicts.

    ``inputs`` are (column name, dtype) pairs in the order the model reads them;
    ``output`` the dtype of ``predict``'s result (None when unknown); ``classes`` a
    classifier's ``classes_`` as JSON-able Python values.
    """

    inputs: tuple[tuple[str, str], ...]
    output: str | None = None
    classes: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:  # lists (from JSON or a caller) become tuples
        object.__setattr__(self, "inputs", tuple((str(n), str(d)) for n, d in self.inputs))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [[name, dtype] for name, dtype in self.inputs],
            "output": self.output,
            "classes": None if self.classes is None else list(self.classes),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Signature:
        try:
            inputs = tuple((name, dtype) for name, dtype in d["inputs"])
            output, classes = d.get("output"), d.get("classes")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a signature: {d!r} (expected {{'inputs': [[name, dtype], "
                             "…], 'output': dtype or None, 'classes': [...] or None})") from exc
        if not all(isinstance(v, str) for pair in inputs for v in pair):
            raise ValueError(f"not a signature: inputs {d['inputs']!r} are not "
                             "[name, dtype] string pairs")
        if output is not None and not isinstance(output, str):
            raise ValueError(f"not a signature: output {output!r} is not a dtype name")
        if classes is not None and not isinstance(classes, list | tuple):
            raise ValueError(f"not a signature: classes {classes!r} is not a list")
        return cls(inputs=inputs, output=output,
                   classes=None if classes is None else tuple(classes))

    def __str__(self) -> str:
        inputs = ", ".join(f"{name} {dtype}" for name, dtype in self.inputs) or "(none)"
        return f"inputs: {inputs} -> output {self.output or 'unknown'}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's pretty printer
        p.text(str(self))


# -- inference ---------------------------------------------------------------------------

def infer(model: Any, data: Any = None, *,
          fingerprint: DatasetFingerprint | None = None) -> Signature | None:
    """The signature of a fitted ``model`` trained on ``data`` (a DataFrame or 2-D array)
    or, without the data, on the data whose ``fingerprint`` was recorded.

    Inputs are the data's columns and dtypes, restricted to (and ordered as) the model's
    ``feature_names_in_`` when it has them; a 2-D array gives columns ``x0``, ``x1``, …
    (or the model's feature names, when as many) with the array's dtype. The output is
    the dtype of a classifier's ``classes_`` (``"str"`` for text labels) or ``"float64"``
    for a regressor; None for anything else.

    Without the data (no data nor fingerprint, or a fingerprint that is not of the
    model's training data: a Series, a file, columns the model was not fitted on), the
    inputs are the columns the model itself knows, ``feature_names_in_`` (else ``x0``,
    ``x1``, … for ``n_features_in_``), with the dtype ``"any"`` (a guessed dtype would
    refuse good input); None when the model knows neither. Data given explicitly that
    lacks one of the model's features, or has a different number of columns than the
    model read, raises :class:`~nbmlops.errors.SignatureError`.
    """
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    n_features = getattr(model, "n_features_in_", None)
    inputs: tuple[tuple[str, str], ...] | None
    if data is not None:
        inputs = _restrict(_schema_of_data(data, names), names, n_features)
    elif fingerprint is not None:
        schema = _schema_of_fingerprint(fingerprint, names)
        try:
            inputs = None if schema is None else _restrict(schema, names, n_features)
        except SignatureError:  # recorded data, but not what this model was fitted on
            inputs = None
    else:
        inputs = None
    if inputs is None and names is not None:
        inputs = tuple((n, ANY) for n in names)
    elif inputs is None and isinstance(n_features, int) and not isinstance(n_features, bool):
        inputs = tuple((n, ANY) for n in _positional(n_features, None))
    if inputs is None:
        return None
    output, classes = _output(model)
    return Signature(inputs=inputs, output=output, classes=classes)


def _positional(n: int, names: list[str] | None) -> list[str]:
    return names if names is not None and len(names) == n else [f"x{i}" for i in range(n)]


def _schema_of_data(data: Any, names: list[str] | None) -> list[tuple[str, str]]:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return [(str(c), str(t)) for c, t in data.dtypes.items()]
    if isinstance(data, np.ndarray) and data.dtype.names is None:
        if data.ndim != 2:
            raise SignatureError(f"training data is a {data.ndim}-D array; a model reads a "
                                 "2-D one (rows x columns)")
        return [(n, str(data.dtype)) for n in _positional(data.shape[1], names)]
    raise TypeError(f"cannot read a signature off a {type(data).__name__}; give the "
                    "training DataFrame or 2-D array")


def _schema_of_fingerprint(fp: DatasetFingerprint,
                           names: list[str] | None) -> list[tuple[str, str]] | None:
    if fp.kind == "dataframe":
        return list(fp.schema)
    if fp.kind == "ndarray" and len(fp.shape) == 2 and len(fp.schema) == 1 \
            and fp.schema[0][0] == "":
        return [(n, fp.schema[0][1]) for n in _positional(fp.shape[1], names)]
    return None  # a Series, a file or a structured array: not a model's input


def _restrict(schema: list[tuple[str, str]], names: list[str] | None,
              n_features: Any) -> tuple[tuple[str, str], ...]:
    if names is None:
        if isinstance(n_features, int) and n_features != len(schema):
            raise SignatureError(f"the model was fitted on {n_features} columns, but the "
                                 f"training data given has {len(schema)}")
        return tuple(schema)
    dtypes = dict(schema)
    lacking = [n for n in names if n not in dtypes]
    if lacking:
        raise SignatureError(
            f"the model was fitted on column(s) {', '.join(map(repr, lacking))} that the "
            "training data given lacks; give the data the model was fitted on",
            column=lacking[0])
    return tuple((n, dtypes[n]) for n in names)


def _output(model: Any) -> tuple[str | None, tuple[Any, ...] | None]:
    import numpy as np
    from sklearn.base import is_classifier, is_regressor

    try:
        classifier, regressor = is_classifier(model), is_regressor(model)
    except (AttributeError, TypeError):  # not a scikit-learn estimator: no tags to read
        classifier, regressor = hasattr(model, "classes_"), False
    if classifier:
        classes = getattr(model, "classes_", None)
        if classes is None or isinstance(classes, list):  # unfitted, or multi-output
            return None, None
        arr = np.asarray(classes)
        if arr.ndim != 1:
            return None, None
        values = tuple(v.item() if isinstance(v, np.generic) else v for v in arr.tolist())
        text = arr.dtype.kind == "U" or (arr.dtype.kind == "O" and len(values) > 0
                                         and all(isinstance(v, str) for v in values))
        return ("str" if text else str(arr.dtype)), values
    if regressor:
        return "float64", None
    return None, None


# -- enforcement -------------------------------------------------------------------------

def enforce(signature: Signature, data: Any) -> pd.DataFrame:
    """``data`` as the model's input: its signature's columns, in order, with its dtypes.

    ``data`` is a DataFrame, a dict of columns (or of scalars: one row), a list of
    records (dicts), or a 2-D array when the signature's columns are ``x0``, ``x1``, ….
    Extra columns are dropped. A missing column, or a value that would change on
    conversion, raises :class:`~nbmlops.errors.SignatureError` naming the column (and
    the value). The caller's data is never modified; the result keeps its index.
    """
    import pandas as pd

    frame = _as_frame(signature, data)
    if _ready(frame, signature):  # nothing to convert
        wanted = list(signature.columns)
        if list(frame.columns) != wanted:
            return frame[wanted]
        # under copy-on-write a shallow copy shares no memory the caller could see change
        return frame.copy(deep=not _copy_on_write())
    labels: dict[str, list[Any]] = {}
    for label in frame.columns:
        labels.setdefault(str(label), []).append(label)
    lacking = [name for name in signature.columns if name not in labels]
    if lacking:
        expected = ", ".join(f"{n} {d}" for n, d in signature.inputs)
        raise SignatureError(
            f"input lacks column(s) {', '.join(map(repr, lacking))}; the model reads "
            f"{expected}", column=lacking[0])
    columns = {}
    for name, expected in signature.inputs:
        if len(labels[name]) > 1:
            raise SignatureError(f"column {name!r} appears {len(labels[name])} times in the "
                                 "input; keep one", column=name)
        # on a RangeIndex, so that building the frame aligns nothing (labels may repeat)
        columns[name] = _conform(frame[labels[name][0]], name, expected).reset_index(
            drop=True)
    if not columns:
        return pd.DataFrame(index=frame.index)
    # a DataFrame built from a dict of Series copies them (lazily, under copy-on-write):
    # the result shares no memory the caller could see change
    return pd.DataFrame(columns).set_axis(frame.index, axis=0)


def _ready(frame: pd.DataFrame, signature: Signature) -> bool:
    """Every column there once, under its own name, with exactly the signature's dtype."""
    if not frame.columns.is_unique:
        return False
    dtypes = dict(zip(frame.columns, map(_dtype_name, frame.dtypes), strict=True))
    return all(dtypes.get(name) == expected for name, expected in signature.inputs)


@functools.cache
def _copy_on_write() -> bool:
    import pandas as pd

    if int(pd.__version__.split(".")[0]) >= 3:
        return True  # always, from pandas 3
    return pd.get_option("mode.copy_on_write") is True


@functools.lru_cache(maxsize=512)
def _dtype_name(dtype: Any) -> str:
    return str(dtype)  # slow enough to matter per request, and dtypes repeat


def _as_frame(signature: Signature, data: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        if all(not pd.api.types.is_list_like(v) for v in data.values()):
            return pd.DataFrame([dict(data)])  # one record
        return pd.DataFrame(dict(data))
    if isinstance(data, np.ndarray) and data.dtype.names is None:
        n = len(signature.inputs)
        if signature.columns != tuple(f"x{i}" for i in range(n)):
            raise SignatureError(
                f"an array has no column names, and the model reads named columns "
                f"({', '.join(signature.columns)}); give a DataFrame, a dict of columns or "
                "a list of records")
        if data.ndim != 2 or data.shape[1] != n:
            raise SignatureError(f"the model reads {n} columns (a 2-D array of shape "
                                 f"(rows, {n})); got an array of shape {data.shape}")
        return pd.DataFrame(data, columns=list(signature.columns))
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if not all(isinstance(r, Mapping) for r in data):
            raise TypeError("a list given as model input must hold records (dicts of column "
                            "-> value)")
        if not data:
            return pd.DataFrame({n: pd.Series([], dtype=object) for n in signature.columns})
        return pd.DataFrame(list(data))
    raise TypeError(f"cannot use a {type(data).__name__} as model input; give a DataFrame, "
                    "a dict of columns, a list of records or a 2-D array")


def _conform(series: pd.Series, name: str, expected: str) -> pd.Series:
    """``series`` as the dtype ``expected``, or SignatureError."""
    import numpy as np
    import pandas as pd

    if str(series.dtype) == expected or expected == ANY:
        return series
    target = _target_dtype(name, expected)
    if isinstance(target, pd.CategoricalDtype):
        return series.astype(target)
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)  # read a categorical as its values
    if isinstance(target, pd.StringDtype) or target == np.dtype(object):
        return _to_text(series, name, expected, target)
    kind = getattr(target, "kind", "")
    if kind == "M":
        return _to_datetime(series, name, expected, target)
    if kind == "b":
        return _to_bool(series, name, expected, target)
    if kind in ("i", "u", "f") and (isinstance(target, np.dtype)
                                    or hasattr(target, "numpy_dtype")):
        return _to_number(series, name, expected, target)
    missing = series.isna().to_numpy(dtype=bool)
    if missing.all():
        return series.astype(target)
    row, value = _first(series, ~missing)
    raise _refused(name, expected, row, value,
                   f"is {series.dtype} data (only {expected} itself is accepted)")


def _target_dtype(name: str, expected: str) -> Any:
    import numpy as np
    import pandas as pd

    try:
        target = pd.api.types.pandas_dtype(expected)
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"column {name!r}: the signature's dtype {expected!r} is not "
                             f"one pandas {pd.__version__} knows", column=name) from exc
    if expected == "str" and not isinstance(target, pd.StringDtype):
        return np.dtype(object)  # pandas < 3 reads "str" as NumPy's fixed-width unicode
    return target


def _first(series: pd.Series, mask: npt.NDArray[np.bool_]) -> tuple[Any, Any]:
    import numpy as np

    pos = int(np.flatnonzero(mask)[0])
    return series.index[pos], series.iloc[pos]


def _plain(value: Any) -> Any:
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def _refused(name: str, expected: str, row: Any, value: Any, reason: str) -> SignatureError:
    return SignatureError(
        f"column {name!r} expects {expected}, but row {_plain(row)!r} holds "
        f"{_plain(value)!r}, which {reason}; convert the column before predicting",
        column=name)


def _no_missing(series: pd.Series, name: str, expected: str,
                missing: npt.NDArray[np.bool_]) -> None:
    if missing.any():
        row, _ = _first(series, missing)
        raise SignatureError(
            f"column {name!r} expects {expected}, which cannot hold missing values, but row "
            f"{_plain(row)!r} is missing; fill the missing values before predicting, or "
            "train the model on a float or nullable (Int64, boolean) column", column=name)


def _to_text(series: pd.Series, name: str, expected: str, target: Any) -> pd.Series:
    import numpy as np
    import pandas as pd

    missing = series.isna().to_numpy(dtype=bool)
    src = series.dtype
    if isinstance(src, np.dtype) and src.kind == "O":
        if isinstance(target, pd.StringDtype):
            values = series.to_numpy()
            text = np.fromiter((isinstance(v, str) for v in values), dtype=bool,
                               count=len(values))
            if not (text | missing).all():
                row, value = _first(series, ~(text | missing))
                raise _refused(name, expected, row, value, "is not text")
        return series.astype(target)
    if isinstance(src, pd.StringDtype) or missing.all():
        return series.astype(target)
    row, value = _first(series, ~missing)
    raise _refused(name, expected, row, value, f"is {src} data, not text")


def _to_bool(series: pd.Series, name: str, expected: str, target: Any) -> pd.Series:
    import numpy as np
    import pandas as pd

    missing = series.isna().to_numpy(dtype=bool)
    if isinstance(target, np.dtype):
        _no_missing(series, name, expected, missing)
    if not (series.dtype == np.dtype(bool) or isinstance(series.dtype, pd.BooleanDtype)):
        values = series.to_numpy(dtype=object)
        bools = np.fromiter((isinstance(v, bool | np.bool_) for v in values), dtype=bool,
                            count=len(values))
        if not (bools | missing).all():
            row, value = _first(series, ~(bools | missing))
            raise _refused(name, expected, row, value, "is not a bool")
    return series.astype(target)


def _to_number(series: pd.Series, name: str, expected: str, target: Any) -> pd.Series:
    import numpy as np
    import pandas as pd

    np_target = target if isinstance(target, np.dtype) else np.dtype(target.numpy_dtype)
    missing = series.isna().to_numpy(dtype=bool)
    if np_target.kind != "f" and isinstance(target, np.dtype):
        _no_missing(series, name, expected, missing)
    present = series[~missing] if missing.any() else series
    arr = _numbers(present, name, expected, np_target)
    lossy = _lossy(arr, np_target, expected)
    if lossy is not None:
        pos, reason = lossy
        raise _refused(name, expected, present.index[pos], present.iloc[pos], reason)
    with np.errstate(all="ignore"):
        values = arr.astype(np_target)
    if missing.any():
        full = np.zeros(len(series), dtype=np_target)
        if np_target.kind == "f":
            full[missing] = np.nan
        full[~missing] = values
        values = full
    if isinstance(target, np.dtype):
        return pd.Series(values, index=series.index, name=series.name)
    data = pd.array(values, dtype=target)
    if missing.any():
        data[missing] = pd.NA
    return pd.Series(data, index=series.index, name=series.name)


def _numbers(present: pd.Series, name: str, expected: str,
             target: np.dtype[Any]) -> npt.NDArray[Any]:
    """The values of ``present`` (no missing values) as a NumPy bool/int/float array, on
    their way to ``target``."""
    import numpy as np
    import pandas as pd

    src = present.dtype
    if isinstance(src, np.dtype) and src.kind in "biuf":
        return np.asarray(present.to_numpy())
    if not isinstance(src, np.dtype) and getattr(src, "kind", "") in ("b", "i", "u", "f") \
            and hasattr(src, "numpy_dtype"):  # Int64, Float64, boolean, …
        return np.asarray(present.to_numpy(dtype=src.numpy_dtype))
    if len(present) == 0:
        return np.empty(0, dtype=np.float64)
    if not (isinstance(src, np.dtype) and src.kind == "O"):
        raise _refused(name, expected, present.index[0], present.iloc[0],
                       f"is {src} data, not a number")
    values = present.to_numpy(dtype=object)
    inferred = pd.api.types.infer_dtype(values, skipna=False)
    if inferred == "boolean":
        return np.asarray(values.astype(bool))
    if inferred not in ("integer", "floating", "mixed-integer-float"):
        numbers = (bool, int, float, np.bool_, np.integer, np.floating)
        for pos, v in enumerate(values):
            if not isinstance(v, numbers):
                raise _refused(name, expected, present.index[pos], v, "is not a number")
        # only numbers, some of them bools: those count as 0 and 1
        values = np.array([int(v) if isinstance(v, bool | np.bool_) else v for v in values],
                          dtype=object)
        inferred = pd.api.types.infer_dtype(values, skipna=False)
    if inferred == "integer":
        for np_type in (np.int64, np.uint64):
            try:
                return np.asarray(values.astype(np_type))
            except OverflowError:
                continue
        # neither int64 nor uint64 holds every value
        if target.kind in "iu":
            info = np.iinfo(target)
            pos = next(i for i, v in enumerate(values) if not info.min <= v <= info.max)
            reason = f"is out of {expected}'s range [{info.min}, {info.max}]"
        else:
            pos = next(i for i, v in enumerate(values) if not -2**63 <= v < 2**63)
            reason = "is too large to convert exactly"
        raise _refused(name, expected, present.index[pos], values[pos], reason)
    if inferred == "mixed-integer-float":
        # A whole number beyond 2**53 would be rounded on its way to float64; that is
        # refused even for an int column (mixing such numbers with floats is rare).
        for pos, v in enumerate(values):
            if isinstance(v, int | np.integer) and abs(int(v)) > 2**53 \
                    and int(float(v)) != int(v):
                raise _refused(name, expected, present.index[pos], v,
                               "cannot be represented exactly in a column mixing whole "
                               "numbers and floats")
    return np.asarray(values.astype(np.float64))


def _lossy(arr: npt.NDArray[Any], target: np.dtype[Any],
           expected: str) -> tuple[int, str] | None:
    """The position of the first value of ``arr`` that ``target`` cannot hold exactly,
    and why; None when every value fits."""
    import math

    import numpy as np

    kind = arr.dtype.kind
    if kind == "b":
        return None
    checks: list[tuple[npt.NDArray[np.bool_], str]] = []
    if target.kind == "f":
        inexact = f"cannot be represented exactly as {expected}"
        if kind in "iu":
            limit = 2 ** (np.finfo(target).nmant + 1)
            with np.errstate(all="ignore"):
                for pos in np.flatnonzero((arr > limit) | (arr < -limit)):
                    v = int(arr[pos])
                    f = target.type(v)
                    if not math.isfinite(f) or int(f) != v:
                        return int(pos), inexact
            return None
        if target.itemsize >= arr.dtype.itemsize:
            return None
        with np.errstate(all="ignore"):
            checks.append((arr.astype(target) != arr, inexact))
    else:
        info = np.iinfo(target)
        out_of_range = f"is out of {expected}'s range [{info.min}, {info.max}]"
        if kind in "iu":
            checks.append(((arr < info.min) | (arr > info.max), out_of_range))
        else:
            finite = np.isfinite(arr)
            with np.errstate(all="ignore"):
                whole = finite & (arr == np.floor(arr))
            checks.append((~finite, "is not finite"))
            checks.append((finite & ~whole, "is not a whole number"))
            # float(info.max) + 1 is the first float beyond range (2**63 for int64)
            checks.append((whole & ((arr < float(info.min)) | (arr >= float(info.max) + 1)),
                           out_of_range))
    found = [(int(np.argmax(mask)), reason) for mask, reason in checks if mask.any()]
    return min(found) if found else None


def _to_datetime(series: pd.Series, name: str, expected: str, target: Any) -> pd.Series:
    import numpy as np
    import pandas as pd

    missing = series.isna().to_numpy(dtype=bool)
    src, given = series.dtype, series  # errors show the value given, not as parsed
    if getattr(src, "kind", "") != "M":
        if not (isinstance(src, pd.StringDtype) or src == np.dtype(object)):
            if missing.all():
                return series.astype(target)
            row, value = _first(series, ~missing)
            raise _refused(name, expected, row, value, f"is {src} data, not a date/time")
        if src == np.dtype(object):
            values = series.to_numpy()
            ok = np.fromiter((isinstance(v, str | dt.date | np.datetime64) for v in values),
                             dtype=bool, count=len(values))
            if not (ok | missing).all():
                row, value = _first(series, ~(ok | missing))
                raise _refused(name, expected, row, value, "is not a date/time")
        try:
            series = pd.to_datetime(series)
        except (ValueError, TypeError, OverflowError) as exc:
            try:
                unparsed = pd.to_datetime(series, errors="coerce").isna().to_numpy(dtype=bool)
            except (ValueError, TypeError, OverflowError):  # e.g. mixed timezones
                unparsed = np.zeros(len(series), dtype=bool)
            bad = unparsed & ~missing
            row, value = _first(series, bad if bad.any() else ~missing)
            why = str(exc).partition("\n")[0].rstrip(".")
            raise _refused(name, expected, row, value,
                           f"pandas.to_datetime cannot parse ({why})") from exc
    src_tz, target_tz = getattr(series.dtype, "tz", None), getattr(target, "tz", None)
    if (src_tz is None) != (target_tz is None) and not missing.all():
        row, value = _first(given, ~missing)
        raise _refused(name, expected, row, value,
                       "has no timezone" if src_tz is None else
                       "has a timezone (the model reads naive times); convert or drop it")
    if target_tz is not None:
        series = series.dt.tz_convert(target_tz)
    unit = target.unit if target_tz is not None else np.datetime_data(target)[0]
    try:
        converted = series.dt.as_unit(unit)
    except (OverflowError, ValueError) as exc:  # OutOfBoundsDatetime is a ValueError
        present = np.flatnonzero(~missing)
        pos = int(present[0])
        for i in present:
            try:
                pd.Timestamp(series.iloc[i]).as_unit(unit)
            except (OverflowError, ValueError):
                pos = int(i)
                break
        raise _refused(name, expected, given.index[pos], given.iloc[pos],
                       f"is out of {expected}'s range") from exc
    changed = (converted.dt.as_unit(series.dt.unit) != series).to_numpy(dtype=bool)
    if (changed & ~missing).any():
        row, value = _first(given, changed & ~missing)
        raise _refused(name, expected, row, value,
                       f"cannot be represented exactly as {expected}")
    return converted
