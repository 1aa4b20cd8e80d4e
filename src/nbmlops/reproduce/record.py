"""A tracked run's slice: planned before its cell runs, recorded when it has run.

Named steps: :func:`plan_run` takes the session from the journal's memory (no store read
or write on the cell's path), finds the slice and the flags the journal can tell;
:func:`record_slice` adds the ``unseeded`` flags (the estimators exist only once the cell
ran), puts the flags in the run's summary line and hands the slice to the journal, whose
next batch writes it in one transaction with the entries it points at (so the slice points
at stored executions); tracking's background writer flushes the journal too, retrying on
failure, at the latest at exit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nbmlops import tracking
from nbmlops._types import SliceWrite
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
    journal.add_slice(ws, SliceWrite(
        run_id=summary.run_id, session_id=plan.session_id,
        cells=tuple((e.session_id, e.seq) for e in plan.entries), flags=tuple(flags)))
    # the journal's next batch writes it; the tracking writer makes sure, at the latest at
    # exit (and a read in this process has it written first)
    tracking.defer_write(ws, f"the slice of run {summary.run_id[:8]}",
                         lambda: journal.flush(ws))
    return dataclasses.replace(summary, flags=tuple(str(f) for f in flags), clean=not flags)
