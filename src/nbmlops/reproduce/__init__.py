"""Reproducibility: the cell journal, each tracked run's slice and hidden-state flags, and
reproducing a recorded run in a fresh kernel.

* :mod:`~nbmlops.reproduce.journal`: every executed cell of a kernel session, recorded off
  the cell's path by a background writer;
* :mod:`~nbmlops.reproduce.slicing`: a run's slice and hidden-state flags, from the journal;
* :mod:`~nbmlops.reproduce.record`: planned before a tracked cell runs, recorded after;
* :mod:`~nbmlops.reproduce.snapshot`: a copy of the data a run read, put back to reproduce it;
* :mod:`~nbmlops.reproduce.replay`: the slice as a linear notebook, run by papermill,
  compared with the original.

Each name below is imported on first use (PEP 562).

The package shares its name with the public function ``nbmlops.reproduce(run_id, ...)``:
importing the package makes it the attribute ``reproduce`` of ``nbmlops``, so the package
itself is callable and calls :func:`nbmlops.api.reproduce` (the same function, either way).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from nbmlops._lazy import surface

if TYPE_CHECKING:
    from nbmlops.reproduce.journal import Journal, analyze_code
    from nbmlops.reproduce.record import plan_run, record_slice
    from nbmlops.reproduce.replay import Reproduction, reproduce
    from nbmlops.reproduce.slicing import SlicePlan, find_slice
    from nbmlops.reproduce.snapshot import load_frames, take_snapshot

_WHERE = {
    "Journal": "journal", "analyze_code": "journal",
    "plan_run": "record", "record_slice": "record",
    "Reproduction": "replay", "reproduce": "replay",
    "SlicePlan": "slicing", "find_slice": "slicing",
    "load_frames": "snapshot", "take_snapshot": "snapshot",
}

__all__ = ["Journal", "Reproduction", "SlicePlan", "analyze_code", "find_slice", "load_frames",
           "plan_run", "record_slice", "reproduce", "take_snapshot"]

__getattr__, __dir__ = surface(__name__, _WHERE)


class _CallablePackage(types.ModuleType):
    """``nbmlops.reproduce(run_id, ...)`` once this package is imported (see above)."""

    def __call__(self, run_id: str, **options: Any) -> Any:
        from nbmlops import api

        return api.reproduce(run_id, **options)


sys.modules[__name__].__class__ = _CallablePackage
