"""The drift figure: for each column shown, the reference and current distributions
overlaid (histogram shares for numbers, bars for categories), drifted ones titled in red.

Drawn on a :class:`matplotlib.figure.Figure` (not pyplot: nothing leaks into the
notebook's output or stays in memory) from the small per-column shapes a report keeps, so
the figure costs the same for a thousand rows or a billion, and at most a few panels are
drawn however many columns there are.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbmlops.monitoring.drift import ColumnDrift

_REFERENCE = "#8c959f"
_CURRENT = "#0969da"
_DRIFTED = "#cf222e"
_PER_ROW = 3


def drift_figure(columns: Sequence[ColumnDrift]) -> bytes:
    """PNG bytes of one panel per column (empty bytes for no columns)."""
    if not columns:
        return b""
    from matplotlib.figure import Figure

    rows = (len(columns) + _PER_ROW - 1) // _PER_ROW
    cols = min(len(columns), _PER_ROW)
    # fixed margins: a constrained layout costs more than drawing the panels
    fig = Figure(figsize=(4.2 * cols, 2.9 * rows), dpi=80)
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(left=0.08 if cols > 1 else 0.2, right=0.98, bottom=0.08,
                        top=1 - 0.55 / (2.9 * rows) * 1.6, wspace=0.45,
                        hspace=0.75 if rows > 1 else 0.2)
    for ax, column in zip(axes.flat, columns, strict=False):
        if column.kind == "numeric":
            _numeric(ax, column)
        else:
            _categorical(ax, column)
        ax.set_title(f"{_plain(column.column)}\n{_plain(column.result)}", fontsize=9,
                     color=_DRIFTED if column.drifted else "black")
        ax.tick_params(labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _numeric(ax: Any, column: ColumnDrift) -> None:
    edges = list(column.shape["edges"])
    for key, colour, label in (("reference", _REFERENCE, "reference"),
                               ("current", _CURRENT, "current")):
        # one filled step shape per side, not a patch per bin
        ax.stairs(column.shape[key], edges, fill=True, color=colour, alpha=0.45,
                  label=label)
    ax.set_ylabel("share", fontsize=7)


def _categorical(ax: Any, column: ColumnDrift) -> None:
    names = list(column.shape["categories"])
    positions = range(len(names))
    height = 0.4
    ax.barh([p - height / 2 for p in positions], column.shape["reference"],
            height=height, color=_REFERENCE, label="reference")
    ax.barh([p + height / 2 for p in positions], column.shape["current"],
            height=height, color=_CURRENT, label="current")
    ax.set_yticks(list(positions),
                  [_plain(n if len(n) <= 18 else n[:17] + "…") for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("share", fontsize=7)


def _plain(text: str) -> str:
    """Text as it reads: a ``$`` in a name is a dollar, not matplotlib's math mode."""
    return text.replace("$", r"\$")


__all__ = ["drift_figure"]
