"""Evaluation: a fitted model's metrics on held-out data, what it relies on (feature
importances), for whom it works (metrics per group of a sensitive attribute), and figures.

The registry builds its model cards from an :class:`Evaluation`.
"""

from nbmlops.evaluation.evaluation import Evaluation, evaluate_model
from nbmlops.evaluation.explanation import IMPORTANCE_KINDS, ranked
from nbmlops.evaluation.fairness import Fairness
from nbmlops.evaluation.figures import TOP_FEATURES
from nbmlops.evaluation.metrics import Task

__all__ = [
    "IMPORTANCE_KINDS",
    "TOP_FEATURES",
    "Evaluation",
    "Fairness",
    "Task",
    "evaluate_model",
    "ranked",
]
