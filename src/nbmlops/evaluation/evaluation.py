"""Evaluation: how a fitted model does on held-out data, what it relies on, and for whom.

:func:`evaluate_model` scores a fitted scikit-learn model on rows it was not trained on and
returns an :class:`Evaluation`: the metrics, named so that a gate such as ``accuracy>=0.8``
or ``demographic_parity_difference<=0.1`` finds them in ``metrics``; the confusion matrix
or a summary of the residuals; feature importances (permutation, impurity, SHAP); a table
per group of a sensitive attribute; and figures as PNG bytes.

Steps, in order: check the inputs, predict, score, explain, compare the groups, draw.
scikit-learn, numpy, pandas and matplotlib are imported when a model is evaluated; shap
only when SHAP values are asked for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from nbmlops.evaluation.explanation import (
    import_shap,
    impurity_importances,
    permutation_importances,
    shap_importances,
)
from nbmlops.evaluation.fairness import Fairness, fairness_by_group
from nbmlops.evaluation.figures import draw_figures
from nbmlops.evaluation.metrics import (
    Task,
    check_data,
    class_labels,
    classification_metrics,
    model_features,
    model_name,
    predict,
    regression_metrics,
    task_of,
)


@dataclass(frozen=True)
class Evaluation:
    """A fitted model's evaluation on held-out data (see :func:`evaluate_model`).

    ``metrics`` is flat: ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc`` or
    ``mae``, ``rmse``, ``r2``, plus the fairness differences when a sensitive attribute was
    given. ``importances`` has a ``{feature: value}`` mapping per kind: ``permutation``
    (with ``permutation_std``), ``impurity``, ``shap``, as available. ``figures`` holds PNG
    bytes by name: ``confusion_matrix`` or ``residuals``, ``importances``, ``fairness``.
    """

    task: Task
    metrics: dict[str, float]
    confusion: list[list[int]] | None
    labels: list[Any]
    importances: dict[str, dict[str, float]]
    fairness: Fairness | None
    figures: dict[str, bytes]
    n_samples: int
    residuals: dict[str, float] | None = None  # regression: mean, std and quantiles
    model: str = ""  # the estimator's class name (a Pipeline's steps joined by " → ")
    notes: tuple[str, ...] = ()  # what could not be computed, and why


def evaluate_model(model: Any, X: Any, y: Any, *, sensitive: Any = None, task: Task | None = None,
             explain: bool = True, shap: bool = False, random_state: int = 0,
             n_repeats: int = 5) -> Evaluation:
    """Evaluate a fitted scikit-learn ``model`` on held-out ``X``, ``y``.

    ``sensitive`` is a column name of ``X`` or one value per row (an array, list or
    Series); the evaluation then compares the model across its groups (missing values form one
    group). When the model knows its features (``feature_names_in_``), ``X`` goes to it
    restricted to them, so a sensitive column it was not trained on is only used to group;
    otherwise ``X`` goes to the model as given. ``task`` is
    ``"classification"`` or ``"regression"``; by default the model's own kind, else what
    ``y`` looks like. ``explain`` computes permutation importances (``n_repeats`` shuffles
    per feature, seeded by ``random_state``) and reads impurity importances where the
    model (or a Pipeline's last step) has them; ``shap`` adds mean absolute SHAP values on
    a sample of at most 200 rows (needs ``pip install "nbmlops[shap]"``).
    """
    shap_module = import_shap() if shap else None  # fail before the slow part
    data = check_data(X, y, sensitive)  # the sensitive values come from the full X ...
    X = model_features(model, X)  # ... the model sees only its own features
    data = dataclasses.replace(data, features=[str(c) for c in X.columns]) \
        if hasattr(X, "columns") else data
    kind = task_of(model, data.y, task)
    y_pred = predict(model, X, data.n)
    notes: list[str] = []
    labels: list[Any] = []
    confusion: list[list[int]] | None = None
    residuals: dict[str, float] | None = None
    if kind == "classification":
        labels = class_labels(model, data.y, y_pred)
        metrics, confusion = classification_metrics(model, X, data.y, y_pred, labels, notes)
    else:
        metrics, residuals = regression_metrics(data.y, y_pred)
    importances: dict[str, dict[str, float]] = {}
    if explain and not hasattr(model, "fit"):
        notes.append("permutation importance omitted: scikit-learn computes it for "
                     "estimators only (the model has no fit())")
    elif explain:
        importances.update(permutation_importances(model, X, data.y, data.features, kind,
                                                   n_repeats=n_repeats,
                                                   random_state=random_state))
        impurity = impurity_importances(model, data.features)
        if impurity is not None:
            importances["impurity"] = impurity
    if shap_module is not None:
        importances["shap"] = shap_importances(shap_module, model, X, data, kind,
                                               random_state, notes)
    fairness = None
    if data.group_codes is not None:
        fairness = fairness_by_group(data, y_pred, kind, labels)
        metrics.update(fairness.differences)
    figures = draw_figures(kind, confusion, labels, data.y, y_pred, importances, fairness,
                           random_state)
    return Evaluation(task=kind, metrics=metrics, confusion=confusion, labels=labels,
                      importances=importances, fairness=fairness, figures=figures,
                      n_samples=data.n, residuals=residuals, model=model_name(model),
                      notes=tuple(notes))
