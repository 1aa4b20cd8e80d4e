"""A tracked run's slice: planned before its cell runs, recorded when it has run.

Named steps: :func:`plan_run` writes the journal out and takes the session as stored (so
the slice points at stored executions), finds the slice and the flags the journal can tell;
:func:`record_slice` adds the ``unseeded`` flags (the estimators exist only once the cell
ran), writes the slice with the run and puts the flags in the run's summary line.
"""

from __future__ import annotations

import ast
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
    from nbmlops.tracking import RunSummary
    from nbmlops.workspace import Workspace


def plan_run(ws: Workspace, journal: Journal, tree: ast.Module, *, cell_id: str | None,
             notebook_path: str | None) -> SlicePlan:
    """What the run about to execute ``tree`` stands on (see the module)."""
    entries = journal.written(ws)
    reads = tracking.cell_names(tree).reads
    chosen, uses = find_slice(entries, reads)
    codes = ws.store.journal_code([entries[i].source_hash for i in chosen])
    flags = journal_flags(entries, chosen, uses, codes=codes,
                          notebook=read_notebook_cells(notebook_path), run_cell_id=cell_id)
    return SlicePlan(session_id=journal.session_id,
                     entries=tuple(entries[i] for i in chosen), reads=reads,
                     flags=tuple(flags))


def record_slice(ws: Workspace, summary: RunSummary, plan: SlicePlan, tree: ast.Module,
                 namespace: Mapping[str, Any]) -> RunSummary:
    """Write the run's slice and flags; return its summary with them."""
    names = tracking.cell_names(tree)
    bound = [n for e in plan.entries for n in e.binds]
    flags = [*plan.flags, *unseeded([*bound, *names.reads, *names.binds, *names.mutated],
                                    namespace)]
    ws.store.record_run_slice(summary.run_id, plan.session_id,
                              [(e.session_id, e.seq) for e in plan.entries], flags)
    return dataclasses.replace(summary, flags=tuple(str(f) for f in flags), clean=not flags)
