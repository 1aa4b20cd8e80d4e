"""The first steps of an evaluation: check the held-out rows, predict, score.

:func:`check_data` turns ``X``, ``y`` and the sensitive attribute into :class:`HeldOut`;
:func:`predict` asks the model for one prediction per row; :func:`classification_metrics`
and :func:`regression_metrics` score them with scikit-learn's own metrics, named so that
a gate such as ``accuracy>=0.8`` finds them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from numpy.typing import NDArray

Task = Literal["classification", "regression"]

MISSING_GROUP = "(missing)"  # the group of rows whose sensitive value is missing


# -- step 1: the inputs -----------------------------------------------------------------
@dataclass(frozen=True)
class HeldOut:
    """The held-out rows as the later steps need them: how many, the features' names, the
    targets, and each row's group of the sensitive attribute (when one was given)."""

    n: int
    features: list[str]
    y: NDArray[Any]
    attribute: str = ""
    group_codes: NDArray[Any] | None = None  # the group index of each row
    group_names: list[str] = field(default_factory=list)


def check_data(X: Any, y: Any, sensitive: Any) -> HeldOut:
    import numpy as np

    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(X)
    if len(shape) != 2:
        raise ValueError(f"X must be a table of rows by features (2-dimensional); "
                         f"got shape {tuple(shape)}")
    n = int(shape[0])
    if n == 0:
        raise ValueError("X has no rows: evaluate() needs held-out rows to score the model on")
    columns = getattr(X, "columns", None)
    features = ([str(c) for c in columns] if columns is not None
                else [f"x{i}" for i in range(int(shape[1]))])
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr.ravel()
    if y_arr.ndim != 1:
        raise ValueError(f"y must be one target per row; got shape {y_arr.shape} "
                         "(multi-output models are not supported)")
    if len(y_arr) != n:
        raise ValueError(f"X has {n} rows but y has {len(y_arr)} values: "
                         "pass the targets of the same held-out rows")
    y_arr = _plain(y_arr)
    if sensitive is None:
        return HeldOut(n, features, y_arr)
    if isinstance(sensitive, str):
        if columns is None:
            raise ValueError(f"sensitive={sensitive!r} names a column, but X has no column "
                             f"names (it is not a DataFrame): pass the {n} values instead")
        if sensitive not in columns:
            names = [repr(str(c)) for c in columns]
            listed = ", ".join(names[:20]) + (f", … ({len(names)} in all)"
                                              if len(names) > 20 else "")
            raise ValueError(f"sensitive column {sensitive!r} is not in X; its columns are "
                             f"{listed}")
        values = np.asarray(X[sensitive].to_numpy(dtype=object), dtype=object)
        attribute = sensitive
    else:
        values = np.asarray(sensitive, dtype=object)
        if values.ndim != 1 or len(values) != n:
            raise ValueError(f"sensitive must be a column name of X or one value per row; "
                             f"got shape {values.shape} for {n} rows")
        name = getattr(sensitive, "name", None)
        attribute = str(name) if name is not None else "sensitive"
    codes, names = _group_codes(values)
    return HeldOut(n, features, y_arr, attribute, codes, names)


def _plain(values: NDArray[Any]) -> NDArray[Any]:
    """An object array that holds only numbers as a numeric array (scikit-learn's metrics
    cannot tell what kind of target an object array of integers is)."""
    import numpy as np

    if values.dtype == object and all(isinstance(v, numbers.Number) for v in values.tolist()):
        return np.asarray(values.tolist())
    return values


def _group_codes(values: NDArray[Any]) -> tuple[NDArray[Any], list[str]]:
    """Each row's group index, and the groups' labels: values in sorted order, missing
    values (None, NaN) last as one group."""
    import numpy as np
    import pandas as pd

    missing = np.asarray(pd.isna(values), dtype=bool)
    uniques = list(pd.unique(values[~missing]))
    try:
        uniques.sort()
    except TypeError:  # values of several types: order by their text
        uniques.sort(key=str)
    names = [str(u) for u in uniques]
    if len(set(names)) < len(names):  # 1 and "1" are different groups
        names = [repr(u) for u in uniques]
    index = {u: i for i, u in enumerate(uniques)}
    codes = np.array([len(uniques) if m else index[v]
                      for v, m in zip(values, missing, strict=True)], dtype=np.intp)
    if missing.any():
        names.append(MISSING_GROUP)
    return codes, names


def task_of(model: Any, y: NDArray[Any], task: str | None) -> Task:
    if task is not None:
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', not {task!r}")
        return "classification" if task == "classification" else "regression"
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    except AttributeError:  # not a scikit-learn estimator: no tags to read
        pass
    from sklearn.utils.multiclass import type_of_target

    return "classification" if type_of_target(y) in ("binary", "multiclass") else "regression"


def model_name(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        return " → ".join(type(step).__name__ for _, step in steps)
    return type(model).__name__


# -- step 2: predict --------------------------------------------------------------------
def model_features(model: Any, X: Any) -> Any:
    """``X`` restricted to the features the model was fitted on, when it says which."""
    names = getattr(model, "feature_names_in_", None)
    columns = getattr(X, "columns", None)
    if names is None or columns is None:
        return X
    wanted = [str(n) for n in names]
    have = {str(c) for c in columns}
    if not set(wanted) <= have or len(wanted) == len(columns):
        return X  # let the model say what is wrong, or nothing to drop
    return X[list(names)]


def predict(model: Any, X: Any, n: int) -> NDArray[Any]:
    import numpy as np
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not callable(getattr(model, "predict", None)):
        raise ValueError(f"{type(model).__name__} has no predict(): evaluate() needs a "
                         "fitted scikit-learn model")
    try:
        if hasattr(model, "fit"):
            check_is_fitted(model)
        y_pred = np.asarray(model.predict(X))
    except NotFittedError as exc:
        raise NotFittedError(
            f"{model_name(model)} is not fitted: fit it on training data first "
            "(model.fit(X_train, y_train)), then evaluate it on held-out rows") from exc
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred.ravel()
    if y_pred.shape != (n,):
        raise ValueError(f"model.predict(X) returned shape {y_pred.shape}, "
                         f"expected one prediction per row ({n},)")
    return _plain(y_pred)


# -- step 3: score ----------------------------------------------------------------------
def class_labels(model: Any, y: NDArray[Any], y_pred: NDArray[Any]) -> list[Any]:
    """The model's classes in its own order, then any other label seen (sorted)."""
    import numpy as np

    classes = getattr(model, "classes_", None)
    known: list[Any] = [] if classes is None else np.asarray(classes).tolist()
    seen = set(np.asarray(y).tolist()) | set(np.asarray(y_pred).tolist())
    extra = [v for v in seen if v not in known]
    try:
        extra.sort()
    except TypeError:
        extra.sort(key=str)
    return known + extra


def classification_metrics(model: Any, X: Any, y: NDArray[Any], y_pred: NDArray[Any],
                           labels: list[Any], notes: list[str]
                           ) -> tuple[dict[str, float], list[list[int]]]:
    from sklearn import metrics as skm

    binary = len(labels) == 2
    average: dict[str, Any] = ({"average": "binary", "pos_label": labels[1]} if binary
                               else {"average": "macro"})
    metrics = {
        "accuracy": float(skm.accuracy_score(y, y_pred)),
        "precision": float(skm.precision_score(y, y_pred, zero_division=0, **average)),
        "recall": float(skm.recall_score(y, y_pred, zero_division=0, **average)),
        "f1": float(skm.f1_score(y, y_pred, zero_division=0, **average)),
    }
    auc = _roc_auc(model, X, y, labels, notes)
    if auc is not None:
        metrics["roc_auc"] = auc
    confusion: list[list[int]] = skm.confusion_matrix(y, y_pred, labels=labels).tolist()
    return metrics, confusion


def _roc_auc(model: Any, X: Any, y: NDArray[Any], labels: list[Any], notes: list[str]
             ) -> float | None:
    """Binary: from predict_proba's positive column or decision_function. Multiclass:
    one-vs-rest, macro-averaged, from predict_proba. None (and a note) when undefined."""
    import numpy as np
    from sklearn import metrics as skm

    has_proba = callable(getattr(model, "predict_proba", None))
    if len(labels) == 2:
        positive = np.asarray(y == labels[1], dtype=bool)
        if positive.all() or not positive.any():
            notes.append("roc_auc omitted: y holds only one class")
            return None
        if has_proba:
            classes = np.asarray(model.classes_).tolist()
            column = classes.index(labels[1]) if labels[1] in classes else 1
            scores = np.asarray(model.predict_proba(X))[:, column]
        elif callable(getattr(model, "decision_function", None)):
            scores = np.asarray(model.decision_function(X)).ravel()
        else:
            notes.append("roc_auc omitted: the model has neither predict_proba nor "
                         "decision_function")
            return None
        return float(skm.roc_auc_score(positive, scores))
    if not has_proba:
        notes.append("roc_auc omitted: multiclass ROC AUC needs predict_proba")
        return None
    try:
        auc = float(skm.roc_auc_score(y, np.asarray(model.predict_proba(X)),
                                      multi_class="ovr", average="macro",
                                      labels=np.asarray(model.classes_).tolist()))
    except ValueError as exc:  # a class absent from y, labels beyond the model's classes
        notes.append(f"roc_auc omitted: {exc}")
        return None
    return auc


def regression_metrics(y: NDArray[Any], y_pred: NDArray[Any]
                       ) -> tuple[dict[str, float], dict[str, float]]:
    import numpy as np
    from sklearn import metrics as skm

    metrics = {
        "mae": float(skm.mean_absolute_error(y, y_pred)),
        "rmse": float(skm.root_mean_squared_error(y, y_pred)),
        "r2": float(skm.r2_score(y, y_pred)) if len(y) > 1 else math.nan,
    }
    residual = np.asarray(y, dtype=float) - np.asarray(y_pred, dtype=float)
    q = np.quantile(residual, [0.05, 0.25, 0.5, 0.75, 0.95])
    summary = {"mean": float(residual.mean()), "std": float(residual.std()),
               "min": float(residual.min()), "q05": float(q[0]), "q25": float(q[1]),
               "median": float(q[2]), "q75": float(q[3]), "q95": float(q[4]),
               "max": float(residual.max())}
    return metrics, summary


# -- a sample of the rows ---------------------------------------------------------------
def sample_rows(n: int, size: int, random_state: int) -> NDArray[Any]:
    import numpy as np

    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size, replace=False))


def take_rows(X: Any, rows: NDArray[Any]) -> Any:
    import numpy as np

    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if hasattr(X, "shape"):
        return X[rows]
    return np.asarray(X)[rows]
