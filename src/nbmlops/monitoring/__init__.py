"""Monitoring: drift between a reference sample and current data; ground truth (labels
attached to served rows by id) and the performance it measures over time.

The names below are what other capabilities (the model server's ``/feedback``) may use;
each is imported on first use (PEP 562), so a served model imports only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbmlops._lazy import surface

if TYPE_CHECKING:
    from nbmlops.monitoring.feedback import FeedbackResult, log_feedback
    from nbmlops.monitoring.performance import PerformanceReport, performance

_WHERE = {
    "FeedbackResult": "feedback",
    "log_feedback": "feedback",
    "PerformanceReport": "performance",
    "performance": "performance",
}

__all__ = ["FeedbackResult", "PerformanceReport", "log_feedback", "performance"]

__getattr__, __dir__ = surface(__name__, _WHERE)
