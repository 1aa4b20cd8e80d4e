"""Tracking: runs from notebook cells and scripts, their capture, and how they are listed.

The names below are what other capabilities and the API may use; each is imported on first
use (PEP 562), so ``import nbmlops.tracking`` stays cheap. A function that records takes the
:class:`~nbmlops.workspace.Workspace` it records into (``start_run(ws, experiment=...)``);
the background writer behind it is tracking's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbmlops._lazy import surface
from nbmlops.formatting import format_number

if TYPE_CHECKING:
    from nbmlops.tracking.capture import CellNames
    from nbmlops.tracking.capture import analyze as cell_names
    from nbmlops.tracking.compare import Comparison
    from nbmlops.tracking.fingerprint import fingerprint as fingerprint_of
    from nbmlops.tracking.fingerprint import fingerprint_file
    from nbmlops.tracking.run import (
        MODEL_MEDIA_TYPE,
        PARENT_RUN_ENV,
        ActiveRun,
        activated,
        active_run,
        check_key,
        defer_write,
        finish,
        model_artifact,
        new_run,
        process_environment,
        remember_model,
        require_active_run,
        source_of,
        start_run,
        tracked,
        write_deferred,
        write_pending,
    )
    from nbmlops.tracking.sample import SAMPLE_ARTIFACT, SAMPLE_ENV, compare_predictions
    from nbmlops.tracking.summary import RunSummary
    from nbmlops.tracking.values import coerce_param, is_dataset, is_estimator, is_fitted

_WHERE = {
    "CellNames": "capture", "cell_names": "capture",
    "Comparison": "compare",
    "fingerprint_of": "fingerprint", "fingerprint_file": "fingerprint",
    "RunSummary": "summary",
    "SAMPLE_ARTIFACT": "sample", "SAMPLE_ENV": "sample", "compare_predictions": "sample",
    "coerce_param": "values", "is_dataset": "values", "is_estimator": "values",
    "is_fitted": "values",
    **dict.fromkeys((
        "MODEL_MEDIA_TYPE", "PARENT_RUN_ENV", "ActiveRun", "active_run", "activated",
        "check_key", "defer_write", "finish", "model_artifact", "new_run",
        "process_environment", "remember_model", "require_active_run", "source_of",
        "start_run", "tracked", "write_deferred", "write_pending"), "run"),
}

_ALIAS = {"fingerprint_of": "fingerprint", "cell_names": "analyze"}  # submodule names stay submodules

__all__ = [
    "MODEL_MEDIA_TYPE",
    "PARENT_RUN_ENV",
    "SAMPLE_ARTIFACT",
    "SAMPLE_ENV",
    "ActiveRun",
    "CellNames",
    "Comparison",
    "RunSummary",
    "activated",
    "active_run",
    "cell_names",
    "check_key",
    "coerce_param",
    "compare_predictions",
    "defer_write",
    "fingerprint_file",
    "fingerprint_of",
    "finish",
    "format_number",
    "is_dataset",
    "is_estimator",
    "is_fitted",
    "model_artifact",
    "new_run",
    "process_environment",
    "remember_model",
    "require_active_run",
    "source_of",
    "start_run",
    "tracked",
    "write_deferred",
    "write_pending",
]


__getattr__, __dir__ = surface(__name__, _WHERE, _ALIAS)
