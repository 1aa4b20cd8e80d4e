"""A compact profile of training data, and a bounded sample of it, kept beside a model
version so drift can be measured later without the raw data.

:func:`profile` summarises each column in a JSON-able dict (no NaN or infinity: a value
that does not exist is None), keys in a fixed order::

    {"rows": 1000,
     "columns": {
       "age":    {"kind": "numeric", "dtype": "int64", "count": 990, "missing": 10,
                  "missing_rate": 0.01, "infinite": 0, "mean": …, "std": …, "min": 18,
                  "max": 90, "quantiles": {"q00": …, "q01": …, …, "q50": …, …, "q100": …},
                  "histogram": {"bin_edges": [18.0, …, 90.0], "counts": [...]}},
       "city":   {"kind": "categorical", "dtype": "str", "count": …, "missing": …,
                  "missing_rate": …, "n_unique": 12, "frequencies": {"Paris": 0.4, …},
                  "other_share": 0.05},
       "signup": {"kind": "datetime", "dtype": "datetime64[us]", "count": …, "missing": …,
                  "missing_rate": …, "min": "2024-01-01T00:00:00", "max": …}}}

* ``numeric`` — int and float columns (NumPy or nullable; not bool). ``count`` holds
  the non-missing values; ``mean``, ``std`` (population: ddof=0), ``min``, ``max``,
  the quantiles and the histogram cover the finite ones (``infinite`` counts ±inf).
  Quantiles are named ``q`` + the percentile on two digits (``q00``, ``q01``, ``q05``,
  ``q10``, ``q25``, ``q50``, ``q75``, ``q90``, ``q95``, ``q99``, ``q100``), linearly
  interpolated as ``numpy.quantile`` does. The histogram has ``bins`` equal bins over
  [min, max] (``bin_edges`` has bins + 1 values; a constant column gets one bin, edges
  [v, v]); its counts add up to the finite values.
* ``categorical`` — bool, text, category, object and any other column. Values are named
  by ``str(value)``; ``frequencies`` holds the ``top`` most common, as shares of the
  non-missing values, most common first (ties by name); ``other_share`` is the share of
  the rest. ``n_unique`` counts distinct names.
* ``datetime`` — ``min`` and ``max`` in ISO 8601 (with the offset when tz-aware).

``missing_rate`` is missing / rows (None for an empty frame); a statistic of no values
is None.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = ["QUANTILES", "from_parquet_bytes", "profile", "sample", "to_parquet_bytes"]

QUANTILES: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


def quantile_key(p: float) -> str:
    """The key of the ``p`` quantile in a profile: 0.01 -> "q01", 1.0 -> "q100"."""
    return f"q{round(p * 100):02d}"


def profile(frame: pd.DataFrame, *, bins: int = 20, top: int = 50) -> dict[str, Any]:
    """A JSON-able summary of each column of ``frame`` (see the module's docstring)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"profile() takes a DataFrame, not a {type(frame).__name__}")
    if bins < 1 or top < 0:
        raise ValueError(f"bins must be >= 1 and top >= 0 (got bins={bins}, top={top})")
    rows = len(frame)
    columns: dict[str, Any] = {}
    for label, series in frame.items():
        name = str(label)
        if name in columns:
            raise ValueError(f"column name {name!r} appears twice; profile needs unique "
                             "names")
        columns[name] = _column(series, rows, bins=bins, top=top)
    return {"rows": rows, "columns": columns}


def _number(x: Any) -> float | None:
    """A float for JSON: None for NaN or infinity."""
    x = float(x)
    return x if math.isfinite(x) else None


def _column(series: pd.Series, rows: int, *, bins: int, top: int) -> dict[str, Any]:
    import pandas as pd

    types = pd.api.types
    dtype = series.dtype
    missing = int(series.isna().sum())
    head = {"dtype": str(dtype), "count": rows - missing, "missing": missing,
            "missing_rate": missing / rows if rows else None}
    if types.is_datetime64_any_dtype(dtype):
        present = series.dropna()
        return {"kind": "datetime", **head,
                "min": present.min().isoformat() if len(present) else None,
                "max": present.max().isoformat() if len(present) else None}
    if (types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)
            and not types.is_complex_dtype(dtype)):
        return {"kind": "numeric", **head, **_numeric(series, bins=bins)}
    return {"kind": "categorical", **head, **_categorical(series, top=top)}


def _numeric(series: pd.Series, *, bins: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    values: npt.NDArray[np.float64] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    present = values[~np.isnan(values)]
    finite = np.sort(present[np.isfinite(present)])  # one sort serves every figure below
    stats: dict[str, Any] = {"infinite": int(len(present) - len(finite))}
    if len(finite) == 0:
        return {**stats, "mean": None, "std": None, "min": None, "max": None,
                "quantiles": {quantile_key(p): None for p in QUANTILES},
                "histogram": {"bin_edges": [], "counts": []}}
    lo, hi = float(finite[0]), float(finite[-1])
    if pd.api.types.is_integer_dtype(series.dtype):  # exact, even beyond 2**53
        lo_value: Any = int(series.min())
        hi_value: Any = int(series.max())
    else:
        lo_value, hi_value = lo, hi
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = np.mean(finite), np.std(finite)
        if not (np.isfinite(mean) and np.isfinite(std)):  # sums beyond float64's range
            scale = max(abs(lo), abs(hi))
            mean, std = np.mean(finite / scale) * scale, np.std(finite / scale) * scale
        quantiles = _quantiles(finite)
    if lo == hi:
        edges, counts = [lo, hi], [len(finite)]
    else:
        edges, counts = _histogram(finite, bins)
    return {**stats, "mean": _number(mean), "std": _number(std), "min": lo_value,
            "max": hi_value,
            "quantiles": {quantile_key(p): _number(q) for p, q in zip(QUANTILES, quantiles,
                                                                     strict=True)},
            "histogram": {"bin_edges": edges, "counts": counts}}


def _quantiles(ordered: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``numpy.quantile(ordered, QUANTILES)`` (its "linear" method, the same arithmetic)
    for sorted values, without the selection numpy would make again for each one."""
    import numpy as np

    n = len(ordered)
    q = np.asarray(QUANTILES)
    virtual = (n - 1) * q
    below = np.clip(np.floor(virtual).astype(np.intp), 0, n - 1)
    above = np.clip(below + 1, 0, n - 1)
    t = virtual - below
    a, b = ordered[below], ordered[above]
    diff = b - a
    result: npt.NDArray[np.float64] = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return result


def _histogram(ordered: npt.NDArray[np.float64], bins: int) -> tuple[list[float], list[int]]:
    """``numpy.histogram(ordered, bins, range=(min, max))`` for sorted values: ``bins``
    equal bins [e0, e1), [e1, e2), …, [e(n-1), en] (the last one closed)."""
    import numpy as np

    edges = np.linspace(ordered[0], ordered[-1], bins + 1)
    starts = np.searchsorted(ordered, edges, side="left")
    starts[-1] = len(ordered)
    return [float(e) for e in edges], [int(c) for c in np.diff(starts)]


def _categorical(series: pd.Series, *, top: int) -> dict[str, Any]:
    present = series.dropna()
    try:
        counts = present.value_counts(sort=False)
    except TypeError:  # unhashable objects (lists, dicts): count them by name
        counts = present.astype(str).value_counts(sort=False)
    by_name: dict[str, int] = {}
    for value, n in counts.items():
        if n:  # a categorical's unused categories count 0
            key = str(value)
            by_name[key] = by_name.get(key, 0) + int(n)
    total = len(present)
    ranked = sorted(by_name.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    rest = total - sum(n for _, n in ranked)
    return {"n_unique": len(by_name),
            "frequencies": {k: n / total for k, n in ranked},
            "other_share": rest / total if total else None}


def sample(frame: pd.DataFrame, *, n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows of ``frame``, drawn without replacement by a seeded generator
    (the same rows for the same frame, n and seed), in their original order, with a
    fresh 0..n-1 index. A frame of n rows or fewer is returned whole."""
    import numpy as np

    if n < 0:
        raise ValueError(f"n must be >= 0 (got {n})")
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet bytes (pyarrow, with pandas' metadata so dtypes come back:
    numeric, nullable, bool, str, category, datetime with unit and timezone). Column
    names must be strings."""
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow")
    return buf.getvalue()


def from_parquet_bytes(data: bytes) -> pd.DataFrame:
    """The frame :func:`to_parquet_bytes` wrote."""
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
