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

    rows = table.rows
    data: dict[str, Any] = {
        "run_id": [r[0] for r in rows],
        "experiment": [r[1] for r in rows],
        "name": [r[2] for r in rows],
        "status": [r[4] for r in rows],
    }
    start = np.fromiter((r[5] for r in rows), dtype="float64", count=len(rows))
    end = np.fromiter((np.nan if r[6] is None else r[6] for r in rows), dtype="float64",
                      count=len(rows))
    data["start"] = pd.to_datetime(start, unit="s", utc=True)
    duration = end - start
    # a crashed run ends at its last heartbeat: none after its start means "unknown", not 0
    unknown = np.fromiter((r[4] == "crashed" for r in rows), dtype=bool, count=len(rows))
    duration[unknown & (duration <= 0)] = np.nan
    data["duration_s"] = duration
    for prefix, columns in (("params", table.params), ("metrics", table.metrics),
                            ("tags", table.tags)):
        for key in sorted(columns):
            data[f"{prefix}.{key}"] = columns[key]
    frame = pd.DataFrame(data)
    frame.attrs["total"] = table.total
    return frame
