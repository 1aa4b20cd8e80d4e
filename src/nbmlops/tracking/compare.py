"""Runs side by side: their params and metrics, what differs, sorted and filtered.

A :class:`Comparison` is data plus a plain rendering (text, HTML table). In a notebook
with the extension loaded, IPython shows it as the interactive comparison widget
(``nbmlops.widgets``): a sortable, filterable table, each metric against each
hyperparameter, and a parallel-coordinates view.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nbmlops.errors import QueryError
from nbmlops.formatting import format_number

if TYPE_CHECKING:
    import pandas as pd

_IDENTIFIER = re.compile(r"`[^`]*`|\b(?:params|metrics|tags)\.[A-Za-z_][\w.]*")


@dataclass(frozen=True)
class Comparison:
    """Runs to compare. ``frame`` has one row per run: ``run_id``, ``name``, ``status``,
    then the ``params.*`` and ``metrics.*`` columns named in ``params`` and ``metrics``."""

    frame: pd.DataFrame
    params: tuple[str, ...]
    metrics: tuple[str, ...]
    primary: str | None = None  # the metric that ranks the runs (higher is better)
    title: str = "runs"
    higher_is_better: bool = True

    @classmethod
    def of(cls, frame: pd.DataFrame, *, primary: str | None = None, title: str = "runs",
           higher_is_better: bool = True) -> Comparison:
        params = tuple(c for c in frame.columns if c.startswith("params."))
        metrics = tuple(c for c in frame.columns if c.startswith("metrics."))
        if primary is not None and not primary.startswith("metrics."):
            primary = f"metrics.{primary}"
        if primary is not None and primary not in metrics:
            primary = None
        return cls(frame=frame, params=params, metrics=metrics,
                   primary=primary or (metrics[0] if metrics else None), title=title,
                   higher_is_better=higher_is_better)

    def differing(self) -> tuple[str, ...]:
        """The param and metric columns whose values are not all the same."""
        out = []
        for col in (*self.params, *self.metrics):
            values = self.frame[col].astype(str)
            if values.nunique(dropna=False) > 1:
                out.append(col)
        return tuple(out)

    def sorted(self, by: str | None = None, *, ascending: bool | None = None) -> pd.DataFrame:
        by = by or self.primary or "run_id"
        if by not in self.frame.columns:
            raise KeyError(f"no column {by!r} to sort by; columns are "
                           f"{', '.join(self.frame.columns)}")
        if ascending is None:
            ascending = not (by == self.primary and self.higher_is_better)
        column = self.frame[by]
        if column.dtype != object:
            return self.frame.sort_values(by, ascending=ascending, na_position="last",
                                          kind="stable")
        # a param may mix numbers and text (max_features: ["sqrt", 0.5]): ascending puts
        # numbers, then text; descending is the exact reverse; missing values come last
        def key(i: int) -> tuple[int, float, str]:
            value = column.iloc[i]
            if isinstance(value, int | float) and not isinstance(value, bool):
                return (0, float(value), "")
            return (1, 0.0, str(value))

        missing = [i for i in range(len(column)) if column.iloc[i] is None or (
            isinstance(column.iloc[i], float) and column.iloc[i] != column.iloc[i])]
        gone = set(missing)
        present = sorted((i for i in range(len(column)) if i not in gone), key=key,
                         reverse=not ascending)
        order = present + missing
        return self.frame.iloc[order]

    def query(self, expression: str) -> pd.DataFrame:
        """Rows matching a pandas query; ``metrics.x`` and ``params.y`` need no backticks."""
        if not expression.strip():
            return self.frame
        text = _IDENTIFIER.sub(lambda m: m.group(0) if m.group(0).startswith("`")
                               else f"`{m.group(0)}`", expression)
        try:
            return self.frame.query(text, engine="python")
        except Exception as exc:
            raise QueryError(f"cannot filter: {exc}", expression=expression) from None

    # -- plain rendering ---------------------------------------------------------------
    def table(self, frame: pd.DataFrame | None = None, *, limit: int = 50) -> pd.DataFrame:
        """The rows as shown: short ids, numbers rounded, only the columns that differ."""
        frame = self.sorted() if frame is None else frame
        keep = ["run_id", "name", "status", *[c for c in (*self.params, *self.metrics)
                                               if c in self.differing() or c == self.primary]]
        view = frame[[c for c in keep if c in frame.columns]].head(limit).copy()
        view["run_id"] = view["run_id"].str[:8]
        for col in view.columns:
            if col.startswith("metrics."):
                view[col] = view[col].map(lambda v: "" if v != v else format_number(float(v)))
        return view.rename(columns=lambda c: c.split(".", 1)[1] if "." in c else c)

    def __repr__(self) -> str:
        if self.frame.empty:
            return f"{self.title}: no runs"
        table: str = self.table().to_string(index=False, na_rep="")
        return f"{self.title} ({len(self.frame)} runs)\n{table}"

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return f"<p>{html.escape(self.title)}: no runs</p>"
        table: str = self.table().to_html(index=False, na_rep="", border=0,
                                          classes="nbmlops-compare")
        return f"<div><b>{html.escape(self.title)}</b> ({len(self.frame)} runs)</div>{table}"
