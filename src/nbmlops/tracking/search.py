"""Runs as a pandas DataFrame (``nbmlops.runs()``, ``%runs``, ``nbmlops runs list``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nbmlops._types import RunKind, RunTable
from nbmlops.store import Store
from nbmlops.store.query import parse_filter, parse_sort

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = ("run_id", "experiment", "name", "status", "start", "duration_s")


def search(store: Store, *, experiment: str | None = None, where: str | None = None,
           sort: str | Sequence[str] | None = None, kinds: Sequence[RunKind] | None = None,
           parent_run_id: str | None = None, limit: int | None = None, offset: int = 0
           ) -> RunTable:
    return store.search_runs(
        experiment=experiment, where=parse_filter(where),
        order_by=parse_sort(sort if sort is None or isinstance(sort, str) else list(sort)),
        kinds=kinds, parent_run_id=parent_run_id, limit=limit, offset=offset)


def to_frame(table: RunTable) -> pd.DataFrame:
    """One row per run: base columns, then ``params.*``, ``metrics.*``, ``tags.*``."""
    import numpy as np
    import pandas as pd

    n = len(table.rows)
    index = {row[0]: i for i, row in enumerate(table.rows)}
    data: dict[str, Any] = {}
    if n:
        ids, exps, names, _kinds, statuses, starts, ends, _parents = zip(*table.rows,
                                                                          strict=True)
    else:
        ids = exps = names = statuses = starts = ends = ()
    start_arr = np.asarray(starts, dtype="float64")
    end_arr = np.asarray([np.nan if e is None else e for e in ends], dtype="float64")
    data["run_id"] = list(ids)
    data["experiment"] = list(exps)
    data["name"] = list(names)
    data["status"] = list(statuses)
    data["start"] = pd.to_datetime(start_arr, unit="s", utc=True)
    data["duration_s"] = end_arr - start_arr

    for prefix, triples in (("params", table.params), ("metrics", table.metrics),
                            ("tags", table.tags)):
        cols: dict[str, list[Any]] = {}
        for run_id, key, value in triples:
            col = cols.get(key)
            if col is None:
                col = cols[key] = [np.nan if prefix == "metrics" else None] * n
            col[index[run_id]] = value
        for key in sorted(cols):
            values = cols[key]
            if prefix == "metrics":
                data[f"{prefix}.{key}"] = np.asarray(values, dtype="float64")
            else:
                data[f"{prefix}.{key}"] = pd.array(values, dtype=_infer(values))
    frame = pd.DataFrame(data)
    frame.attrs["total"] = table.total
    return frame


def _infer(values: list[Any]) -> Any:
    """A column dtype that keeps param values as they were logged."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, float | int) and not isinstance(v, bool) for v in present):
        return "float64" if any(isinstance(v, float) for v in present) or len(present) < len(
            values) else "int64"
    return object
