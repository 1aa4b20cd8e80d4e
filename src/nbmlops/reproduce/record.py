"""A tracked run's slice: planned before its cell runs, recorded when it has run.

Named steps: :func:`plan_run` takes the session from the journal's memory (no store read
or write on the cell's path), finds the slice and the flags the journal can tell;
:func:`record_slice` adds the ``unseeded`` flags (the estimators exist only once the cell
ran), puts the flags in the run's summary line and hands the write to tracking's background
writer: first the journal's entries (so the slice points at stored executions), then the
slice, in one deferred step that is retried on failure and done at the latest at exit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nbmlops import tracking
from nbmlops.reproduce.journal import Journal
from nbmlops.reproduce.slicing import (
    SlicePlan,
    find_slice,
    journal_flags,
    read_notebook_cells,
    unseeded,
)

if TYPE_CHECKING:
    from nbmlops.tracking import CellNames, RunSummary
    from nbmlops.workspace import Workspace


def plan_run(ws: Workspace, journal: Journal, names: CellNames, *, cell_id: str | None,
             notebook_path: str | None) -> SlicePlan:
    """What the run about to execute a cell of these ``names`` stands on (see the
    module)."""
    entries, codes, binders = journal.session()
    chosen, uses = find_slice(entries, names.reads, binders)
    flags = journal_flags(entries, chosen, uses, codes=codes,
                          notebook=read_notebook_cells(notebook_path), run_cell_id=cell_id)
    return SlicePlan(session_id=journal.session_id,
                     entries=tuple(entries[i] for i in chosen), reads=names.reads,
                     flags=tuple(flags),
                     names=tuple(dict.fromkeys((*names.reads, *names.binds, *names.mutated))))


def record_slice(ws: Workspace, journal: Journal, summary: RunSummary, plan: SlicePlan,
                 namespace: Mapping[str, Any]) -> RunSummary:
    """Have the run's slice and flags written (see the module); return its summary with
    them."""
    bound = [n for e in plan.entries for n in e.binds]
    flags = [*plan.flags, *unseeded([*bound, *plan.names], namespace)]
    cells = [(e.session_id, e.seq) for e in plan.entries]
    run_id = summary.run_id

    def write() -> None:
        journal.flush(ws)
        ws.store.record_run_slice(run_id, plan.session_id, cells, flags)

    tracking.defer_write(ws, f"the slice of run {run_id[:8]}", write)
    return dataclasses.replace(summary, flags=tuple(str(f) for f in flags), clean=not flags)
