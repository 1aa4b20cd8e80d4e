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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops.errors import SignatureError
from nbmlops.registry import ANY, Signature, enforce

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ANY", "PayloadError", "ServedModel"]

_WRAPPERS = ("records", "dataframe_records", "instances", "inputs")
_SPLIT = ("columns", "data")
_EXACT = 2**53  # ints a float64 holds exactly


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

    def predict(self, frame: pd.DataFrame) -> list[Any]:
        if len(frame) == 0:
            return []
        return _plain_list(self.model.predict(frame))

    def predict_proba(self, frame: pd.DataFrame) -> list[list[float | None]]:
        if not self.can_predict_proba:
            raise PayloadError(f"{self.reference} is not a probabilistic classifier (its "
                               f"{type(self.model).__name__} has no predict_proba); drop "
                               "?proba=true")
        if len(frame) == 0:
            return []
        return [[_json_float(v) for v in row] for row in self.model.predict_proba(frame).tolist()]

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
