"""A model version as a server uses it, and request payloads turned into its input.

A request body is JSON in one of these shapes (the first two are the native ones; the
others are accepted so that clients written for MLflow's scoring server keep working):

* records: ``[{"tenure": 3, "spend": 20.5}, ...]``, or one record ``{"tenure": 3, ...}``;
* columns: ``{"tenure": [3, 12], "spend": [20.5, 7.0]}``;
* ``{"records": [...]}``, ``{"dataframe_records": [...]}``, ``{"instances": [...]}`` or
  ``{"inputs": ...}`` wrapping either of the above;
* split: ``{"columns": ["tenure", "spend"], "data": [[3, 20.5], ...]}``, also under
  ``"dataframe_split"``;
* rows without names, ``[[3, 20.5], ...]``, in the order of the model's signature.

The input is then checked against the version's signature (columns, lossless casts): a
missing column or a value of the wrong type is a :class:`~nbmlops.errors.SignatureError`
naming the column, which the server answers with 422.

Small requests of numbers (at most :data:`LEAN_ROWS` rows, a signature of ``float64`` and
``int64`` columns only) take a lean path: :meth:`ServedModel.lean` reads the values straight
into a NumPy array (:class:`Rows`) and a scikit-learn model is given that array, without
building a DataFrame for it to take apart again. Whatever the lean path is not sure of (a
missing or extra-typed value, a bool, text, NaN, a number the signature would convert or
refuse, a model that may read column names) it leaves to the full path, so the answers
and the errors are the same either way.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops.errors import SignatureError
from nbmlops.registry import ANY, Signature, enforce

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ANY", "LEAN_ROWS", "PayloadError", "Rows", "ServedModel"]

_WRAPPERS = ("records", "dataframe_records", "instances", "inputs")
_SPLIT = ("columns", "data")
_EXACT = 2**53  # ints a float64 holds exactly
LEAN_ROWS = 64  # requests of at most this many rows may take the lean path
_LEAN_DTYPES = frozenset({"float64", "int64"})
# scikit-learn estimators that may read column names (or hand the input to user code)
_NAME_READERS = frozenset({"ColumnTransformer", "FunctionTransformer"})


class PayloadError(ValueError):
    """A request body that is JSON but not model input (the server answers 422)."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version: what ``/predict`` calls and ``/metadata`` describes."""

    name: str
    version: int
    model: Any
    signature: Signature | None
    sha256: str
    details: Mapping[str, Any] = field(default_factory=dict)  # run id, created, format, …

    @property
    def can_predict_proba(self) -> bool:
        return callable(getattr(self.model, "predict_proba", None))

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None)
        return None if classes is None else _plain_list(classes)

    @property
    def output_column(self) -> str:
        """The prediction's column in logs and batch output (``prediction``, unless the
        model reads a column of that name)."""
        names = set(self.signature.columns) if self.signature is not None else set()
        name = "prediction"
        while name in names:
            name = "_" + name
        return name

    def frame(self, payload: Any) -> pd.DataFrame:
        """Model input from a decoded JSON body (SignatureError / PayloadError if not)."""
        import pandas as pd

        data = _unwrap(payload, self.signature)
        if self.signature is not None:
            return enforce(self.signature, data)
        if isinstance(data, pd.DataFrame):
            frame = data
        elif isinstance(data, Mapping):
            scalar = all(not isinstance(v, list) for v in data.values())
            frame = pd.DataFrame([dict(data)]) if scalar else pd.DataFrame(dict(data))
        else:
            frame = pd.DataFrame(list(data))
        return self._as_fitted(frame)

    def _as_fitted(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A version without a signature: the columns the model itself was fitted on, in
        its order (a SignatureError naming a missing one)."""
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None:
            wanted = [str(n) for n in names]
            have = {str(c): c for c in frame.columns}
            lacking = [n for n in wanted if n not in have]
            if lacking:
                raise SignatureError(f"input lacks column(s) {', '.join(map(repr, lacking))}; "
                                     f"the model reads {', '.join(wanted)}", column=lacking[0])
            return frame[[have[n] for n in wanted]].set_axis(wanted, axis=1)
        n = getattr(self.model, "n_features_in_", None)
        if isinstance(n, int) and frame.shape[1] != n:
            raise SignatureError(f"the model reads {n} columns; the input has "
                                 f"{frame.shape[1]}")
        return frame

    def predict(self, frame: pd.DataFrame | Rows) -> list[Any]:
        if len(frame) == 0:
            return []
        if self._array_input(frame):
            with _finite():
                return _plain_list(self.model.predict(frame.array()))
        return _plain_list(self.model.predict(self._input(frame)))

    def predict_proba(self, frame: pd.DataFrame | Rows) -> list[list[float | None]]:
        if not self.can_predict_proba:
            raise PayloadError(f"{self.reference} is not a probabilistic classifier (its "
                               f"{type(self.model).__name__} has no predict_proba); drop "
                               "?proba=true")
        if len(frame) == 0:
            return []
        if self._array_input(frame):
            with _finite():
                out = self.model.predict_proba(frame.array())
        else:
            out = self.model.predict_proba(self._input(frame))
        return [[_json_float(v) for v in row] for row in out.tolist()]

    @functools.cached_property
    def _lean_columns(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The signature's columns and dtypes when its input can take the lean path."""
        sig = self.signature
        if sig is None or not sig.inputs or any(d not in _LEAN_DTYPES for _, d in sig.inputs):
            return None
        return sig.columns, tuple(d for _, d in sig.inputs)

    @functools.cached_property
    def _reads_arrays(self) -> bool:
        """Whether the model may be given a NumPy array for its DataFrame: a scikit-learn
        estimator (and every estimator inside it) that reads values by position, fitted on
        the signature's columns in their order. scikit-learn turns a numeric DataFrame into
        that very array before it computes anything."""
        lean = self._lean_columns
        if lean is None or not _positional_estimator(self.model):
            return False
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None and [str(n) for n in names] != list(lean[0]):
            return False
        n = getattr(self.model, "n_features_in_", None)
        return n is None or n == len(lean[0])

    def lean(self, payload: Any) -> Rows | None:
        """The rows of a small all-numbers request as an array, or None when the full path
        (:meth:`frame`) must read it (it then answers or refuses it as always)."""
        lean = self._lean_columns
        if lean is None:
            return None
        columns, dtypes = lean
        values = _lean_values(payload, columns, tuple(d == "float64" for d in dtypes))
        if values is None:
            return None
        kind = "float64" if "float64" in dtypes else "int64"
        import numpy as np

        return Rows(columns, dtypes, np.array(values, dtype=kind))

    def _array_input(self, frame: pd.DataFrame | Rows) -> bool:
        """Whether the model is given ``frame``'s array (lean Rows, a model that reads
        values by position)."""
        if isinstance(frame, Rows) and self._reads_arrays:
            _quiet_feature_names()
            return True
        return False

    def _input(self, frame: pd.DataFrame | Rows) -> Any:
        return frame.to_frame() if isinstance(frame, Rows) else frame

    @property
    def reference(self) -> str:
        return f"{self.name}/{self.version}"

    def metadata(self) -> dict[str, Any]:
        return {
            "model": self.name, "version": self.version, "sha256": self.sha256,
            "estimator": type(self.model).__name__,
            "signature": None if self.signature is None else self.signature.to_json(),
            "classes": self.classes, "predict_proba": self.can_predict_proba,
            **dict(self.details),
        }


@dataclass(frozen=True)
class Rows:
    """A small request's rows, checked against a signature of numbers: ``values`` holds
    them in the signature's column order (float64 when any column is, else int64), as the
    DataFrame of the full path holds them and scikit-learn would read them out of it."""

    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    values: Any  # a 2-D NumPy array

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, name: str) -> Any:
        """One column, with its signature's dtype (exact: its values are whole and within
        ±2**53 when it is int64 in a float64 array)."""
        at = self.columns.index(name)
        return self.values[:, at].astype(self.dtypes[at], copy=False)

    def array(self) -> Any:
        """The values as scikit-learn reads them out of the full path's DataFrame: in
        column-major (Fortran) order, which decides how BLAS adds up a product, and so the
        last bits of a probability."""
        import numpy as np

        return np.asfortranarray(self.values)

    def take(self, positions: Sequence[int]) -> Rows:
        return Rows(self.columns, self.dtypes, self.values[list(positions)])

    def to_frame(self) -> pd.DataFrame:
        """The DataFrame the full path would have built of the same input."""
        import pandas as pd

        if len(set(self.dtypes)) == 1:
            return pd.DataFrame(self.values, columns=list(self.columns))
        return pd.DataFrame({name: self[name] for name in self.columns})


def take(frame: pd.DataFrame | Rows, positions: Sequence[int]) -> pd.DataFrame | Rows:
    """The rows at ``positions`` (all of them: the input itself)."""
    if len(positions) == len(frame):
        return frame
    return frame.take(positions) if isinstance(frame, Rows) else frame.iloc[list(positions)]


def _positional_estimator(model: Any) -> bool:
    """A scikit-learn estimator none of whose parts may read column names or run user code."""
    if not type(model).__module__.startswith("sklearn.") \
            or type(model).__name__ in _NAME_READERS:
        return False
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return False
    try:
        params = get_params(deep=True)
    except Exception:
        return False
    for value in params.values():
        if value is None or isinstance(value, str | int | float | bool):
            continue  # "passthrough", "drop", plain settings
        if hasattr(value, "fit"):
            if not type(value).__module__.startswith("sklearn.") \
                    or type(value).__name__ in _NAME_READERS:
                return False
        elif callable(value):
            return False  # a function (a scorer, a kernel, a metric): user code
    return True


@functools.cache
def _quiet_feature_names() -> None:
    """scikit-learn warns when an estimator fitted on a DataFrame is given an array; the
    lean path gives it the very values, in the fitted columns' order (checked)."""
    import warnings

    warnings.filterwarnings("ignore", message="X does not have valid feature names",
                            category=UserWarning)


def _finite() -> Any:
    """scikit-learn's settings for lean Rows: their values are all finite (checked as they
    were read), so its own scan for NaN and infinities is skipped (in this thread only)."""
    import sklearn

    return sklearn.config_context(assume_finite=True)


def _lean_number(value: Any, floats: bool) -> bool:
    """A value every path reads the same: a finite float (float64 columns only), or an
    int that a float64 holds exactly (bools, text, None, NaN go the full path)."""
    kind = type(value)
    if kind is float:
        return floats and math.isfinite(value)
    return kind is int and -_EXACT <= value <= _EXACT


def _lean_values(payload: Any, columns: tuple[str, ...], floats: tuple[bool, ...]
                 ) -> list[list[Any]] | None:
    """The rows of ``payload`` as lists of numbers in ``columns``' order, or None. It reads
    the shapes :func:`_unwrap` reads, in the same order, and gives up wherever that, the
    signature or the model might say more than "here are the numbers"."""
    if isinstance(payload, Mapping):
        keys = set(payload)
        if len(keys) == 1 and next(iter(keys)) in _WRAPPERS:
            return _lean_values(payload[next(iter(keys))], columns, floats)
        if keys == {"dataframe_split"}:
            return _lean_values(payload["dataframe_split"], columns, floats)
        if keys in ({"columns", "data"}, {"columns", "data", "index"}) and isinstance(
                payload["columns"], list) and isinstance(payload["data"], list):
            names = payload["columns"]
            if not all(type(c) is str for c in names) or len(set(names)) != len(names):
                return None
            at = {c: i for i, c in enumerate(names)}
            if any(c not in at for c in columns):
                return None
            width = len(names)
            rows = payload["data"]
            if not rows or len(rows) > LEAN_ROWS or not all(
                    type(r) is list and len(r) == width for r in rows):
                return None
            if names == list(columns):
                picked = rows
            else:
                where = [at[c] for c in columns]
                picked = [[r[i] for i in where] for r in rows]
            return picked if _all_numbers(picked, floats) else None
        if not payload:
            return None
        if any(isinstance(v, list | Mapping) for v in payload.values()):
            return None  # columns, or nested values: the full path reads them
        return _lean_records([payload], columns, floats)
    if isinstance(payload, list):
        if not payload or len(payload) > LEAN_ROWS:
            return None
        if all(type(r) is dict for r in payload):
            return _lean_records(payload, columns, floats)
        if all(type(r) is list and len(r) == len(columns) for r in payload):
            return payload if _all_numbers(payload, floats) else None
    return None


def _lean_records(records: list[Any], columns: tuple[str, ...], floats: tuple[bool, ...]
                  ) -> list[list[Any]] | None:
    try:
        rows = [[record[c] for c in columns] for record in records]
    except KeyError:
        return None
    return rows if _all_numbers(rows, floats) else None


def _all_numbers(rows: list[list[Any]], floats: tuple[bool, ...]) -> bool:
    """Every value a number its column reads as it is (``floats``: which columns are
    float64; the others are int64)."""
    return all(_lean_number(v, f) for row in rows for v, f in zip(row, floats, strict=True))


def _unwrap(payload: Any, signature: Signature | None) -> Any:
    """The records, columns or rows inside a request body."""

    if isinstance(payload, Mapping):
        keys = set(payload)
        if len(keys) == 1 and next(iter(keys)) in _WRAPPERS:
            return _unwrap(payload[next(iter(keys))], signature)
        if keys == {"dataframe_split"}:
            return _unwrap(payload["dataframe_split"], signature)
        if keys in ({"columns", "data"}, {"columns", "data", "index"}) and isinstance(
                payload["columns"], list) and isinstance(payload["data"], list):
            rows = payload["data"]
            if not all(isinstance(r, list) and len(r) == len(payload["columns"]) for r in rows):
                raise PayloadError(f"each row of \"data\" must be a list of "
                                   f"{len(payload['columns'])} values, one per column")
            return _rows_frame(rows, [str(c) for c in payload["columns"]], signature)
        if not payload:
            raise PayloadError("the body is an empty object; send records "
                               "([{\"column\": value, ...}]) or columns "
                               "({\"column\": [values], ...})")
        lists = [isinstance(v, list) for v in payload.values()]
        if any(lists) and not all(lists):
            mixed = next(k for k, v in payload.items() if not isinstance(v, list))
            raise PayloadError(f"columns must all be lists of values (column {mixed!r} is "
                               "not); for one record, send no lists")
        if all(lists) and len({len(v) for v in payload.values()}) > 1:
            lengths = ", ".join(f"{k}: {len(v)}" for k, v in payload.items())
            raise PayloadError(f"columns must have the same length ({lengths})")
        return payload
    if isinstance(payload, list):
        if all(isinstance(r, Mapping) for r in payload):
            return payload
        if all(isinstance(r, list) for r in payload):
            if signature is None:
                raise PayloadError("rows without column names need the model's signature, "
                                   "and this version has none; send records instead")
            n = len(signature.inputs)
            bad = next((i for i, r in enumerate(payload) if len(r) != n), None)
            if bad is not None:
                raise SignatureError(f"row {bad} has {len(payload[bad])} values; the model reads "
                                     f"{n} ({', '.join(signature.columns)})")
            return _rows_frame(payload, list(signature.columns), signature)
        raise PayloadError("a list must hold records (objects) or rows (lists), not a mix "
                           "or other values")
    raise PayloadError(f"the body is a JSON {type(payload).__name__}; send records "
                       "([{\"column\": value, ...}]) or columns ({\"column\": [values], ...})")


def _rows_frame(rows: list[list[Any]], columns: list[str], signature: Signature | None
                ) -> pd.DataFrame:
    """Rows of values as a frame. When the model reads only float64 columns and every
    value is a JSON number, the frame is built straight from a float array: pandas'
    row-by-row type inference is most of a small request's cost, and the numbers come out
    as the signature's float64 would make them anyway."""
    import numpy as np
    import pandas as pd

    if (signature is not None and rows and signature.inputs
            and all(dtype == "float64" for _, dtype in signature.inputs)
            and all(type(v) is float or (type(v) is int and -_EXACT <= v <= _EXACT)
                    for row in rows for v in row)):
        return pd.DataFrame(np.array(rows, dtype=np.float64), columns=columns)
    return pd.DataFrame(rows, columns=columns)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value


def _plain_list(values: Any) -> list[Any]:
    """Model output as JSON-able Python values (NaN and infinities become null)."""
    import numpy as np

    arr = np.asarray(values)
    if arr.ndim == 1 and arr.dtype.kind == "f":
        return [_json_float(v) for v in arr.tolist()]
    if arr.dtype.kind in "biuU":
        return list(arr.tolist())
    if arr.dtype.kind == "M":
        return [None if v is None else str(v) for v in arr.astype("datetime64[us]").astype(
            object).tolist()]
    return [_plain(v) for v in arr.tolist()]


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    item = getattr(value, "item", None)  # NumPy scalars
    return _plain(item()) if callable(item) else str(value)
