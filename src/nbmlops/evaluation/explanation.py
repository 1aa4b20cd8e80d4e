"""What a model relies on: permutation, impurity and SHAP feature importances.

shap is imported only when SHAP values are asked for (:func:`import_shap` fails early,
naming the extra to install).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nbmlops.errors import MissingExtraError
from nbmlops.evaluation.metrics import HeldOut, Task, sample_rows, take_rows

if TYPE_CHECKING:
    from numpy.typing import NDArray

SHAP_ROWS = 200  # rows explained by SHAP (a random sample when there are more)
SHAP_BACKGROUND = 100  # rows of that sample that stand for "feature unknown"
IMPORTANCE_KINDS = ("permutation", "impurity", "shap")


def ranked(values: dict[str, float]) -> list[tuple[str, float]]:
    """Features by value, largest first (NaN last); ties keep the features' order."""
    return sorted(values.items(), key=lambda kv: -kv[1] if kv[1] == kv[1] else math.inf)


def import_shap() -> Any:
    try:
        import shap
    except ImportError as exc:
        raise MissingExtraError("SHAP explanations", extra="shap", module="shap") from exc
    return shap


# -- step 4: explain --------------------------------------------------------------------
def permutation_importances(model: Any, X: Any, y: NDArray[Any], features: list[str],
                            task: Task, *, n_repeats: int, random_state: int
                            ) -> dict[str, dict[str, float]]:
    """How much the model's own score (accuracy or R² for a model without ``score``)
    drops when one feature's values are shuffled."""
    from sklearn.inspection import permutation_importance

    scoring = (None if callable(getattr(model, "score", None))
               else "accuracy" if task == "classification" else "r2")
    result = permutation_importance(model, X, y, scoring=scoring, n_repeats=n_repeats,
                                    random_state=random_state)
    return {"permutation": dict(zip(features, map(float, result.importances_mean),
                                    strict=True)),
            "permutation_std": dict(zip(features, map(float, result.importances_std),
                                        strict=True))}


def impurity_importances(model: Any, features: list[str]) -> dict[str, float] | None:
    """``feature_importances_`` of the model, or of a Pipeline's last step (named by the
    features that step sees, where the pipeline can tell them)."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    final, names = model, features
    if isinstance(model, Pipeline):
        final = model.steps[-1][1]
        if len(model.steps) > 1:
            try:
                names = [str(n) for n in model[:-1].get_feature_names_out()]
            except Exception:  # a step that cannot name its outputs
                names = []
    values = getattr(final, "feature_importances_", None)
    if values is None:
        return None
    importances = np.asarray(values, dtype=float).ravel()
    if len(names) != len(importances):
        names = [f"x{i}" for i in range(len(importances))]
    return dict(zip(names, map(float, importances), strict=True))


def shap_importances(shap_module: Any, model: Any, X: Any, data: HeldOut, task: Task,
                     random_state: int, notes: list[str]) -> dict[str, float]:
    """Mean |SHAP value| per feature over a sample of rows (and over the model's outputs,
    e.g. the classes' probabilities).

    Trees and linear models get shap's fast explainers; so does a Pipeline's last step,
    on the rows as its transformers turn them out. Anything else is explained through its
    prediction function (model-agnostic, much slower: shap compiles it with numba)."""
    import numpy as np

    rows = sample_rows(data.n, SHAP_ROWS, random_state)
    sample = take_rows(X, rows)
    background = np.arange(min(SHAP_BACKGROUND, len(rows)))
    final = _final_step_inputs(model, sample)
    if final is not None:
        estimator, inputs, names = final
        try:
            explainer = shap_module.Explainer(estimator, take_rows(inputs, background))
        except TypeError:  # a last step shap has no fast explainer for
            pass
        else:
            notes.append(f"SHAP values are of the pipeline's last step "
                         f"({type(estimator).__name__}), on the features its "
                         "transformers produce")
            return _mean_abs_shap(explainer, inputs, names)
    try:
        explainer = shap_module.Explainer(model, take_rows(sample, background))
    except TypeError:  # not a model shap knows: explain its prediction function
        explainer = shap_module.Explainer(_prediction_function(model, X, task),
                                          take_rows(sample, background))
    return _mean_abs_shap(explainer, sample, data.features)


def _final_step_inputs(model: Any, sample: Any) -> tuple[Any, Any, list[str]] | None:
    """A Pipeline's last step, the sample as that step sees it, and its feature names."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None
    front = model[:-1]
    try:
        inputs = front.transform(sample)
    except Exception:  # a step that cannot transform on its own: use the whole pipeline
        return None
    if hasattr(inputs, "toarray"):  # sparse (one-hot encoded) output
        inputs = inputs.toarray()
    width = int(inputs.shape[1])
    try:
        names = [str(n) for n in front.get_feature_names_out()]
    except Exception:  # a step that cannot name its outputs
        names = []
    if len(names) != width:
        names = [f"x{i}" for i in range(width)]
    return model.steps[-1][1], inputs, names


def _mean_abs_shap(explainer: Any, inputs: Any, names: list[str]) -> dict[str, float]:
    import inspect

    import numpy as np

    options = ({"silent": True} if "silent" in inspect.signature(explainer.__call__).parameters
               else {})
    values = np.abs(np.asarray(explainer(inputs, **options).values, dtype=float))
    per_feature = values.mean(axis=0)
    if per_feature.ndim > 1:  # one column per output (class): average them
        per_feature = per_feature.mean(axis=1)
    if len(names) != len(per_feature):
        names = [f"x{i}" for i in range(len(per_feature))]
    return dict(zip(names, map(float, per_feature), strict=True))


def _prediction_function(model: Any, X: Any, task: Task) -> Callable[[Any], Any]:
    predict = (model.predict_proba if task == "classification"
               and callable(getattr(model, "predict_proba", None)) else model.predict)
    columns = getattr(X, "columns", None)
    if columns is None:
        return predict  # type: ignore[no-any-return]
    import pandas as pd

    def on_frame(values: Any) -> Any:  # shap passes arrays; the model was fitted on a frame
        return predict(pd.DataFrame(values, columns=columns))

    return on_frame


