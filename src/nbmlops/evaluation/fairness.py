"""For whom the model works: its metrics per group of a sensitive attribute, and how far
apart they are (demographic parity, equalized odds, the spread of mean predictions)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nbmlops.evaluation.metrics import HeldOut, Task

if TYPE_CHECKING:
    from numpy.typing import NDArray


@dataclass(frozen=True)
class Fairness:
    """The model's metrics per group of one sensitive attribute, and how far apart they are.

    ``groups`` maps each group's label to its row: ``count``, then ``accuracy``,
    ``selection_rate``, ``tpr``, ``fpr`` (binary classification; multiclass has
    ``accuracy`` only) or ``mae``, ``rmse``, ``mean_prediction`` (regression). A rate that
    is undefined for a group (TPR without positives, FPR without negatives) is NaN and is
    left out of the differences; ``notes`` says so.
    """

    attribute: str
    groups: dict[str, dict[str, float]]
    differences: dict[str, float]
    notes: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-group metrics, in table order."""
        first = next(iter(self.groups.values()), {})
        return tuple(first)


# -- step 5: compare the groups ---------------------------------------------------------
def fairness_by_group(data: HeldOut, y_pred: NDArray[Any], task: Task, labels: list[Any]
                      ) -> Fairness:
    import numpy as np

    assert data.group_codes is not None
    binary = task == "classification" and len(labels) == 2
    groups: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    for i, name in enumerate(data.group_names):
        mask = data.group_codes == i
        y_true, pred = data.y[mask], y_pred[mask]
        row = {"count": float(mask.sum())}
        if task == "classification":
            row["accuracy"] = float(np.mean(y_true == pred))
            if binary:
                actual = np.asarray(y_true == labels[1], dtype=bool)
                chosen = np.asarray(pred == labels[1], dtype=bool)
                row["selection_rate"] = float(chosen.mean())
                row["tpr"] = float(chosen[actual].mean()) if actual.any() else math.nan
                row["fpr"] = float(chosen[~actual].mean()) if (~actual).any() else math.nan
                if not actual.any():
                    notes.append(f"group {name} has no positives (y = {labels[1]}): its TPR "
                                 "is undefined (NaN) and left out of "
                                 "equalized_odds_difference")
                if actual.all():
                    notes.append(f"group {name} has no negatives: its FPR is undefined (NaN) "
                                 "and left out of equalized_odds_difference")
        else:
            error = np.asarray(y_true, dtype=float) - np.asarray(pred, dtype=float)
            row["mae"] = float(np.abs(error).mean())
            row["rmse"] = float(np.sqrt(np.mean(error ** 2)))
            row["mean_prediction"] = float(np.asarray(pred, dtype=float).mean())
        groups[name] = row
    differences: dict[str, float] = {}
    if binary:
        differences["demographic_parity_difference"] = _spread(
            [r["selection_rate"] for r in groups.values()])
        tpr = _spread([r["tpr"] for r in groups.values()])
        fpr = _spread([r["fpr"] for r in groups.values()])
        defined = [d for d in (tpr, fpr) if not math.isnan(d)]
        differences["equalized_odds_difference"] = max(defined) if defined else math.nan
    elif task == "regression":
        differences["mean_prediction_difference"] = _spread(
            [r["mean_prediction"] for r in groups.values()])
    else:
        notes.append("demographic parity and equalized odds are defined for binary "
                     "classification; the table compares accuracy")
    if len(groups) == 1:
        notes.append(f"{data.attribute} has a single group here: there is nothing to compare")
    return Fairness(attribute=data.attribute, groups=groups, differences=differences,
                    notes=tuple(notes))


def _spread(values: list[float]) -> float:
    """max − min of the defined values (NaN when none is)."""
    defined = [v for v in values if not math.isnan(v)]
    return max(defined) - min(defined) if defined else math.nan

