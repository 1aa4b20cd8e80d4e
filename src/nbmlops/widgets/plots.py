"""Pictures of a comparison: a score against each hyperparameter, and parallel coordinates.

Each function takes the rows to draw and returns PNG bytes, or ``None`` with the reason
there is nothing to draw. Figures are made with :class:`matplotlib.figure.Figure`, not
pyplot: nothing is registered with pyplot, so no figure leaks into the notebook's
output or stays in memory after the PNG is written.
"""

from __future__ import annotations

import io
import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from nbmlops.formatting import format_number

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

MISSING = "None"  # how a param without a value (None, or not set for this model) is shown
_FEW = 12  # numeric params with at most this many values and some missing are categories
_LOG_SPAN = 100.0  # positive numeric params spanning this factor are drawn on a log axis


@dataclass(frozen=True)
class Picture:
    """A PNG, or why there is none (``png`` is then empty)."""

    png: bytes
    note: str = ""


@dataclass(frozen=True)
class ParamAxis:
    """One hyperparameter as positions on an axis: numbers, or category codes 0..k-1."""

    column: str
    kind: Literal["numeric", "log", "categorical"]
    positions: np.ndarray  # float per row; NaN where the row has no position
    categories: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return short(self.column)


def short(column: str) -> str:
    return column.split(".", 1)[1] if "." in column else column


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
            and math.isnan(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def order_key(value: Any) -> tuple[int, float, str]:
    """A key that orders any mix of values: numbers by value, then text, missing last."""
    if is_missing(value):
        return (2, 0.0, MISSING)
    if _is_number(value):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _label(value: Any) -> str:
    if is_missing(value):
        return MISSING
    if _is_number(value):
        return format_number(float(value))
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def _category_order(values: list[Any]) -> tuple[str, ...]:
    """Labels in a natural order: numbers by value, then text, then missing last."""
    firsts: dict[str, Any] = {}
    for v in values:
        firsts.setdefault(_label(v), v)
    return tuple(sorted(firsts, key=lambda label: (*order_key(firsts[label]), label)))


def param_axes(frame: pd.DataFrame, params: tuple[str, ...]) -> list[ParamAxis]:
    """The params that take at least two values among ``frame``'s rows, as axes."""
    import numpy as np

    axes = []
    for col in params:
        if col not in frame.columns:
            continue
        values = list(frame[col])
        labels = [_label(v) for v in values]
        if len(set(labels)) < 2:
            continue
        present = [v for v in values if not is_missing(v)]
        numeric = bool(present) and all(_is_number(v) for v in present)
        has_missing = len(present) < len(values)
        if numeric and not (has_missing and len({float(v) for v in present}) <= _FEW):
            positions = np.array([np.nan if is_missing(v) else float(v) for v in values])
            finite = positions[np.isfinite(positions)]
            wide = (finite.size > 0 and finite.min() > 0
                    and finite.max() / finite.min() >= _LOG_SPAN)
            axes.append(ParamAxis(col, "log" if wide else "numeric", positions))
        else:
            order = _category_order(values)
            code = {label: i for i, label in enumerate(order)}
            positions = np.array([float(code[label]) for label in labels])
            axes.append(ParamAxis(col, "categorical", positions, order))
    return axes


def _scores(frame: pd.DataFrame, metric: str) -> np.ndarray:
    import numpy as np

    return np.asarray(pd.to_numeric(frame[metric], errors="coerce"), dtype=float)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _unplottable(frame: pd.DataFrame, metric: str | None, axes: list[ParamAxis]
                 ) -> str | None:
    if metric is None or metric not in frame.columns:
        return "nothing to plot: these runs have no metric"
    if not axes:
        return "nothing to plot: no hyperparameter takes two values among these runs"
    import numpy as np

    if not np.isfinite(_scores(frame, metric)).any():
        return f"nothing to plot: no run has a score for {short(metric)}"
    return None


def _without_score(scores: np.ndarray) -> str:
    import numpy as np

    n = int((~np.isfinite(scores)).sum())
    return f"{n} run{'s' if n != 1 else ''} without a score not shown" if n else ""


def score_plot(frame: pd.DataFrame, params: tuple[str, ...], metric: str | None, *,
               higher_is_better: bool = True) -> Picture:
    """The score against each varying hyperparameter, one panel each: numbers as a
    scatter, categories as a box with the runs' points jittered over it."""
    import numpy as np
    from matplotlib.figure import Figure

    axes = param_axes(frame, params)
    why = _unplottable(frame, metric, axes)
    if why is not None or metric is None:
        return Picture(b"", why or "")
    scores = _scores(frame, metric)
    best = int(np.nanargmax(scores) if higher_is_better else np.nanargmin(scores))
    ncols = min(3, len(axes))
    nrows = math.ceil(len(axes) / ncols)
    fig = Figure(figsize=(3.6 * ncols, 2.8 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=len(frame))
    for i, axis in enumerate(axes):
        ax = grid[i // ncols][i % ncols]
        ok = np.isfinite(scores) & np.isfinite(axis.positions)
        x, y = axis.positions[ok], scores[ok]
        if axis.kind == "categorical":
            groups = [y[x == k] for k in range(len(axis.categories))]
            filled = [k for k, g in enumerate(groups) if g.size]
            if filled:
                ax.boxplot([groups[k] for k in filled], positions=filled, widths=0.5,
                           showfliers=False, patch_artist=True,
                           boxprops={"facecolor": "#e8eef7", "edgecolor": "#7a8ca8"},
                           medianprops={"color": "#35527a"})
            ax.scatter(x + jitter[ok], y, s=18, color="#1f77b4", alpha=0.8, zorder=3)
            ax.set_xticks(range(len(axis.categories)), axis.categories,
                          rotation=30 if len(axis.categories) > 4 else 0,
                          ha="right" if len(axis.categories) > 4 else "center")
            ax.set_xlim(-0.6, len(axis.categories) - 0.4)
        else:
            ax.scatter(x, y, s=18, color="#1f77b4", alpha=0.8, zorder=3)
            if axis.kind == "log":
                ax.set_xscale("log")
        best_x = axis.positions[best]
        if np.isfinite(best_x):
            ax.scatter([best_x], [scores[best]], s=90, marker="*", color="#d62728",
                       zorder=4, label="best")
        ax.set_title(axis.name, fontsize=10)
        ax.grid(alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel(short(metric))
    for j in range(len(axes), nrows * ncols):
        grid[j // ncols][j % ncols].set_visible(False)
    return Picture(_png(fig), _without_score(scores))


def _unit(axis_positions: np.ndarray, kind: str, k: int = 0) -> np.ndarray:
    """Positions mapped onto [0, 1]; NaN stays NaN."""
    import numpy as np

    if kind == "categorical":
        return np.asarray(axis_positions / max(k - 1, 1), dtype=float)
    values = np.log10(axis_positions) if kind == "log" else axis_positions
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full(values.shape, np.nan)
    lo, hi = float(finite.min()), float(finite.max())
    if hi == lo:
        return np.where(np.isfinite(values), 0.5, np.nan)
    return np.asarray((values - lo) / (hi - lo), dtype=float)


def parallel_plot(frame: pd.DataFrame, params: tuple[str, ...], metric: str | None, *,
                  higher_is_better: bool = True) -> Picture:
    """One line per run across an axis per varying hyperparameter and the score, every
    axis scaled to [0, 1] (categories evenly spaced), coloured by the score."""
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    axes = param_axes(frame, params)
    why = _unplottable(frame, metric, axes)
    if why is not None or metric is None:
        return Picture(b"", why or "")
    scores = _scores(frame, metric)
    score_axis = ParamAxis(metric, "numeric", scores)
    columns = [*axes, score_axis]
    ys = np.column_stack([_unit(a.positions, a.kind, len(a.categories)) for a in columns])
    xs = np.arange(len(columns), dtype=float)

    finite = scores[np.isfinite(scores)]
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    norm = Normalize(lo, hi)
    cmap = "viridis" if higher_is_better else "viridis_r"  # the best runs are the brightest
    scored = np.isfinite(scores)
    # best drawn last, on top
    order = np.argsort(scores[scored] if higher_is_better else -scores[scored], kind="stable")

    fig = Figure(figsize=(max(4.5, 1.6 * len(columns) + 1.5), 3.6), layout="constrained")
    ax = fig.subplots()
    unscored = [np.column_stack([xs, ys[i]]) for i in np.flatnonzero(~scored)]
    if unscored:
        ax.add_collection(LineCollection(unscored, colors="#9e9e9e", linestyles="dashed",
                                         linewidths=1.0, alpha=0.6))
    rows = np.flatnonzero(scored)[order]
    lines = LineCollection([np.column_stack([xs, ys[i]]) for i in rows], cmap=cmap,
                           norm=norm, linewidths=1.4, alpha=0.85)
    lines.set_array(scores[rows])
    ax.add_collection(lines)

    for x, axis in zip(xs, columns, strict=True):
        ax.axvline(x, color="#424242", linewidth=0.8, zorder=0)
        for y, text in _axis_labels(axis):
            ax.annotate(text, (x, y), xytext=(4, 0), textcoords="offset points",
                        fontsize=7, va="center", color="#424242")
    ax.set_xlim(-0.1, len(columns) - 0.6)
    ax.set_ylim(-0.06, 1.06)
    ax.set_xticks(xs, [a.name for a in columns], rotation=20 if len(columns) > 5 else 0)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=short(metric))
    return Picture(_png(fig), _without_score(scores))


def _axis_labels(axis: ParamAxis) -> list[tuple[float, str]]:
    """Where to write values along an axis: every category, or the ends of a range."""
    import numpy as np

    if axis.kind == "categorical":
        k = len(axis.categories)
        if k <= _FEW:
            return [(i / max(k - 1, 1), c) for i, c in enumerate(axis.categories)]
        return [(0.0, axis.categories[0]), (1.0, axis.categories[-1])]
    finite = axis.positions[np.isfinite(axis.positions)]
    if finite.size == 0:
        return []
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        return [(0.5, format_number(lo))]
    return [(0.0, format_number(lo)), (1.0, format_number(hi))]
