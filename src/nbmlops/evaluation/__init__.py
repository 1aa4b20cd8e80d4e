"""Evaluation: a fitted model's metrics on held-out data, what it relies on (feature
importances), for whom it works (metrics per group of a sensitive attribute), and figures.

The registry builds its model cards from an :class:`Evaluation`, and keeps with a version
the baseline production is judged by (:func:`held_out_baseline`: held-out metrics with
bootstrap intervals and a calibration map for confidence-based performance estimation).
"""

from nbmlops.evaluation.baseline import (
    CLASSIFICATION,
    LOWER_IS_BETTER,
    REGRESSION,
    class_key,
    estimate,
    held_out_baseline,
    metrics_of,
)
from nbmlops.evaluation.evaluation import Evaluation, evaluate_model
from nbmlops.evaluation.explanation import IMPORTANCE_KINDS, ranked
from nbmlops.evaluation.fairness import Fairness
from nbmlops.evaluation.figures import TOP_FEATURES
from nbmlops.evaluation.metrics import Task

__all__ = [
    "CLASSIFICATION",
    "IMPORTANCE_KINDS",
    "LOWER_IS_BETTER",
    "REGRESSION",
    "TOP_FEATURES",
    "Evaluation",
    "Fairness",
    "Task",
    "class_key",
    "estimate",
    "evaluate_model",
    "held_out_baseline",
    "metrics_of",
    "ranked",
]
