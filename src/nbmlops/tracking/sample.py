"""A run's prediction sample: a few rows of the input it read and its models' predictions.

When a tracked cell saves a model and read a dataset the model can predict on, the run
keeps the dataset's first :data:`MAX_ROWS` rows and each model's predictions on them, as
the JSON artifact :data:`SAMPLE_ARTIFACT` (exact: floats as their shortest repr, dtypes
kept). ``nbmlops reproduce`` hands that sample to the reproduced run (through the
environment variable :data:`SAMPLE_ENV`), whose models predict on the same rows, and
compares the predictions.

Only NumPy arrays and DataFrames of numbers, booleans and strings are sampled; anything
else (or a sample above :data:`MAX_BYTES`) is left out, silently: the sample is evidence
for a reproduction, never a reason for a run to fail.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MAX_ROWS = 100
MAX_BYTES = 1_000_000
SAMPLE_ARTIFACT = "predictions-sample.json"
SAMPLE_ENV = "NBMLOPS_REPRODUCE_SAMPLE"
_KINDS = "biufU"  # numpy dtype kinds kept exactly: bool, int, uint, float, str


def _array(value: Any) -> dict[str, Any] | None:
    import numpy as np

    arr = np.asarray(value)
    if arr.dtype.kind not in _KINDS:
        if arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr.ravel()):
            arr = arr.astype(str)
        else:
            return None
    return {"type": "array", "dtype": arr.dtype.str, "shape": list(arr.shape),
            "data": arr.ravel().tolist()}


def encode(value: Any) -> dict[str, Any] | None:
    """A JSON-able, exact form of an array or DataFrame; None for anything else."""
    kind = type(value).__module__.split(".")[0]
    if kind == "numpy" and hasattr(value, "dtype"):
        return _array(value)
    if kind == "pandas" and hasattr(value, "columns"):
        columns = {}
        for col in value.columns:
            if not isinstance(col, str):
                return None
            enc = _array(value[col].to_numpy())
            if enc is None:
                return None
            columns[col] = enc
        return {"type": "frame", "columns": columns}
    if kind == "pandas" and hasattr(value, "to_numpy"):
        return _array(value.to_numpy())
    return None


def decode(doc: Mapping[str, Any]) -> Any:
    import numpy as np

    if doc["type"] == "array":
        return np.array(doc["data"], dtype=np.dtype(doc["dtype"])).reshape(doc["shape"])
    import pandas as pd

    return pd.DataFrame({col: decode(enc) for col, enc in doc["columns"].items()})


def _head(value: Any) -> Any:
    if hasattr(value, "iloc"):
        return value.iloc[:MAX_ROWS]
    return value[:MAX_ROWS]


def _given_sample() -> tuple[str, Any] | None:
    """The sample a reproduction hands its run (``SAMPLE_ENV``), if any."""
    path = os.environ.get(SAMPLE_ENV)
    if not path:
        return None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return str(doc["input"]), decode(doc["sample"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prediction_sample(models: Mapping[str, Any], inputs: Sequence[tuple[str, Any]]
                      ) -> bytes | None:
    """The JSON artifact (see the module) for ``models`` on the first of ``inputs`` (name,
    value) they all predict on; None when there is none."""
    predictors = {n: m for n, m in models.items() if callable(getattr(m, "predict", None))}
    if not predictors:
        return None
    given = _given_sample()
    candidates = [given] if given is not None else [(n, _head(v)) for n, v in inputs]
    for name, sample in candidates:
        sample_doc = encode(sample)
        if sample_doc is None or len(sample) == 0:
            continue
        predictions = {}
        for model_name, model in predictors.items():
            try:
                enc = encode(model.predict(sample))
            except Exception:
                enc = None
            if enc is None:
                break
            predictions[model_name] = enc
        else:
            data = json.dumps({"input": name, "rows": len(sample), "sample": sample_doc,
                               "predictions": predictions}).encode()
            return data if len(data) <= MAX_BYTES else None
    return None


def _close(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or (rtol > 0 and abs(a - b) <= rtol * max(abs(a), abs(b)))
    return bool(a == b)


def compare_predictions(then: Mapping[str, Any], now: Mapping[str, Any] | None, rtol: float
                        ) -> tuple[list[str], int]:
    """(differences, models compared) between two runs' prediction samples."""
    rows = then.get("rows", "?")
    diffs: list[str] = []
    for model, old in then["predictions"].items():
        new = (now or {}).get("predictions", {}).get(model)
        if new is None:
            diffs.append(f"predictions of {model} on the {rows} recorded rows of "
                         f"{then['input']}: made then, not now")
            continue
        a, b = old["data"], new["data"]
        if old["shape"] != new["shape"]:
            diffs.append(f"predictions of {model}: shape {old['shape']} then, "
                         f"{new['shape']} now")
            continue
        wrong = sum(not _close(x, y, rtol) for x, y in zip(a, b, strict=True))
        if wrong:
            first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True))
                         if not _close(x, y, rtol))
            diffs.append(f"predictions of {model} on the {rows} recorded rows of "
                         f"{then['input']}: {wrong} of {len(a)} differ (first: {a[first]!r} "
                         f"then, {b[first]!r} now)")
    return diffs, len(then["predictions"])
