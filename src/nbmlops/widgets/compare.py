"""A :class:`~nbmlops.tracking.compare.Comparison` as an interactive widget.

A sortable, filterable table of the runs, then two pictures of the rows the filter keeps:
a metric against each hyperparameter, and parallel coordinates. Sorting, filtering and
rendering the table are the comparison's own (``sorted``, ``query``, ``table``); this
module only wires them to widgets.
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from nbmlops.errors import QueryError
from nbmlops.tracking.compare import Comparison
from nbmlops.widgets.plots import Picture, is_missing, order_key, parallel_plot, score_plot

if TYPE_CHECKING:
    import pandas as pd

_STYLE = """<style>
.nbmlops-compare {border-collapse: collapse; font-size: 12px;}
.nbmlops-compare th, .nbmlops-compare td {padding: 2px 8px; text-align: right;
  border-bottom: 1px solid #e0e0e0; white-space: nowrap;}
.nbmlops-compare th {border-bottom: 1px solid #9e9e9e;}
.nbmlops-compare tbody tr:nth-child(odd) {background: rgba(0, 0, 0, 0.03);}
</style>"""
_PLACEHOLDER = "e.g. metrics.accuracy > 0.8 and params.model == 'forest'"


class CompareWidget(widgets.VBox):
    """Runs side by side. Public parts, for code and tests alike:

    ``sort_by`` (Dropdown of metric, param and rank columns), ``descending``
    (ToggleButton), ``filter`` (Text: a query such as ``metrics.accuracy > 0.8``),
    ``error`` (HTML: why the filter was refused), ``table`` (HTML: the rows),
    ``shown`` (the DataFrame of the rows displayed, in order), ``metric`` (Dropdown:
    the metric the pictures show, the primary one at first), ``plots`` (Tab), and in its
    two tabs ``score_plot`` and ``parallel_plot`` (PNG ``Image`` widgets, empty when there
    is nothing to draw, with the reason in ``score_note`` / ``parallel_note``). The
    pictures are of the rows the filter keeps; a tab's picture is drawn when it is first
    shown, and again after the filter or the metric changes.
    """

    def __init__(self, comparison: Comparison, *, limit: int = 50) -> None:
        self.comparison = comparison
        self.limit = limit
        frame = comparison.frame
        metrics = sorted(comparison.metrics, key=lambda c: c != comparison.primary)
        columns = [*metrics, *comparison.params, *(["rank"] if "rank" in frame.columns else [])]
        plotted = comparison.primary or (metrics[0] if metrics else None)
        first = plotted or ("rank" if "rank" in columns else None) or next(iter(columns), None)

        self.header = widgets.HTML(self._header())
        self.sort_by = widgets.Dropdown(options=columns, value=first, description="sort by",
                                        layout=widgets.Layout(width="auto"))
        self.descending = widgets.ToggleButton(value=self._natural_descending(first),
                                               description="descending",
                                               icon="sort-amount-desc",
                                               tooltip="largest first")
        self.filter = widgets.Text(value="", placeholder=_PLACEHOLDER, description="filter",
                                   continuous_update=False,
                                   layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self.error = widgets.HTML("")
        self.table = widgets.HTML("")
        self.metric = widgets.Dropdown(options=metrics, value=plotted,
                                       description="plot", disabled=not metrics,
                                       layout=widgets.Layout(width="auto"))
        self.score_note = widgets.HTML("")
        self.score_plot = widgets.Image(format="png", value=b"")
        self.parallel_note = widgets.HTML("")
        self.parallel_plot = widgets.Image(format="png", value=b"")
        self.plots = widgets.Tab(
            children=[widgets.VBox([self.score_note, self.score_plot]),
                      widgets.VBox([self.parallel_note, self.parallel_plot])],
            titles=("score vs hyperparameters", "parallel coordinates"), selected_index=0)
        super().__init__([
            self.header,
            widgets.HBox([self.sort_by, self.descending, self.filter]),
            self.error,
            self.table,
            self.metric,
            self.plots,
        ])

        self.shown: pd.DataFrame = frame.iloc[:0]
        self._plotted: tuple[str, str | None] | None = None
        self._stale: set[int] = set()  # tabs whose picture is not of the rows shown
        self.refresh()
        self.sort_by.observe(self._on_sort, names="value")
        self.descending.observe(self._on_change, names="value")
        self.filter.observe(self._on_change, names="value")
        self.metric.observe(self._on_change, names="value")
        self.plots.observe(self._on_tab, names="selected_index")

    # -- state ------------------------------------------------------------------------
    def _header(self) -> str:
        c = self.comparison
        n = len(c.frame)
        count = "no runs" if n == 0 else f"{n} run{'s' if n != 1 else ''}"
        return f"<b>{html.escape(c.title)}</b> ({count})"

    def _natural_descending(self, column: str | None) -> bool:
        """The order :meth:`Comparison.sorted` picks: the primary score best first."""
        return column is not None and column == self.comparison.primary and \
            self.comparison.higher_is_better

    def _ordered(self) -> pd.DataFrame:
        c = self.comparison
        by, ascending = self.sort_by.value, not self.descending.value
        try:
            return c.sorted(by, ascending=ascending)
        except TypeError:  # a column mixing numbers and text: numbers first, then text
            frame = c.frame.reset_index(drop=True)
            keys = frame.assign(**{by: frame[by].map(
                lambda v: None if is_missing(v) else order_key(v))})
            order = replace(c, frame=keys).sorted(by, ascending=ascending).index
            return c.frame.iloc[list(order)]

    def rows(self) -> pd.DataFrame:
        """The rows the controls select, in order (raises QueryError on a bad filter)."""
        return replace(self.comparison, frame=self._ordered()).query(self.filter.value)

    def refresh(self) -> None:
        """Redraw from the controls; a bad filter is reported and the rows stay."""
        try:
            rows = self.rows()
        except QueryError as exc:
            self.error.value = (f'<span style="color:#c62828;font-size:12px">'
                                f'{html.escape(str(exc))}</span>')
            return
        self.error.value = ""
        self.shown = rows
        self.table.value = self._table(rows)
        key = (self.filter.value.strip(), self.metric.value)
        if key != self._plotted:
            self._plotted = key
            self._stale = {0, 1}
            self._draw()

    def _table(self, rows: pd.DataFrame) -> str:
        total = len(self.comparison.frame)
        if rows.empty:
            return ("<p><i>no runs</i></p>" if total == 0 else
                    f"<p><i>no run of {total} matches the filter</i></p>")
        view = self.comparison.table(rows, limit=self.limit)
        notes = [f"{len(rows)} of {total} runs match"] if len(rows) != total else []
        if len(rows) > self.limit:
            notes.append(f"the first {self.limit} shown")
        caption = (f'<div style="font-size:11px;color:#616161">{", ".join(notes)}</div>'
                   if notes else "")
        table: str = view.to_html(index=False, na_rep="", border=0,
                                  classes="nbmlops-compare")
        return _STYLE + caption + table

    def _draw(self) -> None:
        """Draw the selected tab's picture if stale (matplotlib takes a while: the other
        tab is drawn when it is opened)."""
        index = self.plots.selected_index or 0
        if index not in self._stale:
            return
        self._stale.discard(index)
        c, metric = self.comparison, self.metric.value
        draw, image, note = ((score_plot, self.score_plot, self.score_note) if index == 0
                             else (parallel_plot, self.parallel_plot, self.parallel_note))
        _put(draw(self.shown, c.params, metric, higher_is_better=c.higher_is_better),
             image, note)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, with the comparison's own HTML and text beside it for wherever
        widgets are not rendered (an executed notebook on GitHub, a text log)."""
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self.comparison)
        data["text/html"] = self.comparison._repr_html_()
        return data

    # -- events -----------------------------------------------------------------------
    def _on_sort(self, change: dict[str, Any]) -> None:
        natural = self._natural_descending(change["new"])
        if self.descending.value != natural:
            self.descending.value = natural  # observed: refreshes
        else:
            self.refresh()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.refresh()

    def _on_tab(self, change: dict[str, Any]) -> None:
        self._draw()


def _put(picture: Picture, image: Any, note: Any) -> None:
    image.value = picture.png
    image.layout.display = None if picture.png else "none"
    note.value = (f'<span style="font-size:11px;color:#616161">{html.escape(picture.note)}'
                  "</span>" if picture.note else "")
