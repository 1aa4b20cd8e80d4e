"""An evaluation's figures as PNG bytes: the confusion matrix or the residuals, the
feature importances, the metrics per group.

Drawn on :class:`matplotlib.figure.Figure`, never through pyplot, so none is left open in
the notebook; matplotlib is imported when a figure is drawn.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from nbmlops.evaluation.explanation import IMPORTANCE_KINDS, ranked
from nbmlops.evaluation.fairness import Fairness
from nbmlops.evaluation.metrics import Task, sample_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import NDArray

TOP_FEATURES = 15  # features shown in the tables and the importance chart
SCATTER_POINTS = 5000  # points drawn in the residuals plot (a random sample beyond)
ANNOTATED_CLASSES = 20  # the confusion heatmap writes its counts up to this many classes
_RATES = ("accuracy", "selection_rate", "tpr", "fpr")
_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")


# -- step 6: draw -----------------------------------------------------------------------
def draw_figures(task: Task, confusion: list[list[int]] | None, labels: list[Any],
                 y: NDArray[Any], y_pred: NDArray[Any],
                 importances: dict[str, dict[str, float]], fairness: Fairness | None,
                 random_state: int) -> dict[str, bytes]:
    figures: dict[str, bytes] = {}
    if confusion is not None:
        figures["confusion_matrix"] = _confusion_figure(confusion, labels)
    if task == "regression":
        figures["residuals"] = _residuals_figure(y, y_pred, random_state)
    if any(importances.get(k) for k in IMPORTANCE_KINDS):
        figures["importances"] = _importances_figure(importances)
    if fairness is not None and len(fairness.columns) > 1:
        figures["fairness"] = _fairness_figure(fairness)
    return figures


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _confusion_figure(confusion: list[list[int]], labels: list[Any]) -> bytes:
    import numpy as np
    from matplotlib.figure import Figure

    counts = np.asarray(confusion, dtype=float)
    k = len(labels)
    side = min(3.0 + 0.45 * k, 12.0)
    fig = Figure(figsize=(side, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    if k > ANNOTATED_CLASSES:  # counts too many to write: a colour scale instead
        fig.colorbar(image, ax=ax, shrink=0.8)
    names = [_short(str(label), 16) for label in labels]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0,
                  ha="right" if k > 4 else "center", parse_math=False)
    ax.set_yticks(range(k), names, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= ANNOTATED_CLASSES:
        high = counts.max() / 2 if counts.size else 0.0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > high else "#24292f")
    return _png(fig)


def _residuals_figure(y: NDArray[Any], y_pred: NDArray[Any], random_state: int) -> bytes:
    import numpy as np
    from matplotlib.figure import Figure

    rows = sample_rows(len(y), SCATTER_POINTS, random_state)
    predicted = np.asarray(y_pred, dtype=float)[rows]
    residual = np.asarray(y, dtype=float)[rows] - predicted
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.scatter(predicted, residual, s=10, alpha=0.5, color="#1f77b4")
    ax.axhline(0.0, color="#d62728", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (true − predicted)")
    if len(rows) < len(y):
        ax.set_title(f"{len(rows)} of {len(y)} rows", fontsize=9)
    ax.grid(alpha=0.3)
    return _png(fig)


def _importances_figure(importances: dict[str, dict[str, float]]) -> bytes:
    from matplotlib.figure import Figure

    kinds = [k for k in IMPORTANCE_KINDS if importances.get(k)]
    shown = min(TOP_FEATURES, max(len(importances[k]) for k in kinds))
    fig = Figure(figsize=(3.8 * len(kinds) + 1.2, 1.0 + 0.28 * shown), layout="constrained")
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    std = importances.get("permutation_std", {})
    for ax, kind in zip(axes, kinds, strict=True):
        top = ranked(importances[kind])[:TOP_FEATURES][::-1]  # largest at the top
        names = [_short(name) for name, _ in top]
        values = [v for _, v in top]
        errors = [std.get(name, 0.0) for name, _ in top] if kind == "permutation" else None
        ax.barh(range(len(top)), values, xerr=errors, color="#4c78a8", ecolor="#57606a")
        ax.set_yticks(range(len(top)), names, parse_math=False)
        ax.set_title(kind, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _fairness_figure(fairness: Fairness) -> bytes:
    """One bar per metric for each group, side by side (rates, or target units)."""
    from matplotlib.figure import Figure

    columns = [c for c in fairness.columns if c != "count"]
    names = [_short(name, 16) for name in fairness.groups]
    width = 0.8 / len(columns)
    fig = Figure(figsize=(min(3.0 + 0.35 * len(columns) * len(names), 14.0), 3.4),
                 layout="constrained")
    ax = fig.subplots()
    for i, column in enumerate(columns):
        values = [row[column] for row in fairness.groups.values()]
        positions = [g + (i - (len(columns) - 1) / 2) * width for g in range(len(names))]
        ax.bar(positions, values, width=width, label=column, color=_PALETTE[i % len(_PALETTE)])
        for x, value in zip(positions, values, strict=True):
            if math.isnan(value):  # an undefined rate: say so rather than draw 0
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, color="#57606a")
    ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0,
                  ha="right" if len(names) > 4 else "center", parse_math=False)
    if all(c in _RATES for c in columns):  # rates on their whole scale: small gaps look small
        ax.set_ylim(0.0, 1.05)
    ax.axhline(0.0, color="#424242", linewidth=0.8)
    ax.set_title(f"by {_short(fairness.attribute)}", fontsize=10, parse_math=False)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
