"""Progress as a widget: a bar of items done (a search's candidates, batch scoring's rows)
and the plain progress line."""

from __future__ import annotations

import html
import math
import time
from typing import Any

import ipywidgets as widgets

from nbmlops.progress import ProgressState

_STYLES = {"finished": "success", "failed": "danger", "interrupted": "warning"}


class WidgetProgress:
    """:class:`~nbmlops.progress.Progress` as an ``IntProgress`` bar and a label.

    The bar counts items done (``state.unit``) of ``total``; when the total is not known
    ahead (successive halving, rows of a CSV file) it is full and blue ("info") until the
    work ends, as tqdm's notebook bar does. The label is the same line a terminal shows.
    The widgets are displayed on the first update (or on close, if there was none);
    intermediate updates are applied at most once every ``every_s`` seconds (the final one
    always is).
    """

    def __init__(self, *, every_s: float = 0.1) -> None:
        # the bar shrinks to 80 px and the line wraps (a Label would cut it off with an
        # ellipsis); in a narrow notebook the line goes under the bar
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(
            width="auto", flex="0 1 320px", min_width="80px"))
        self.label = widgets.HTML(value="", layout=widgets.Layout(
            flex="1 1 220px", min_width="0", overflow="visible"))
        self.box = widgets.HBox([self.bar, self.label],
                                layout=widgets.Layout(flex_flow="row wrap", width="100%"))
        self.text = ""
        self._every = every_s
        self._last = -math.inf
        self._displayed = False
        self._handle: Any = None  # IPython's DisplayHandle (None outside IPython)

    def _display(self) -> None:
        """Show the bar (the first time) with the progress line as its text fallback,
        kept current on close, for wherever widgets are not rendered."""
        data = {**self.box._repr_mimebundle_(), "text/plain": self.text}
        if not self._displayed:
            from IPython.display import display

            self._handle = display(data, raw=True, display_id=True)
            self._displayed = True
        elif self._handle is not None:
            self._handle.update(data, raw=True)

    def _show(self, state: ProgressState, *, full: bool = False) -> None:
        if state.total:
            self.bar.max = state.total  # before value: value is clamped to [min, max]
            self.bar.value = state.total if full else min(state.done, state.total)
            self.bar.bar_style = ""
        else:
            self.bar.max = max(state.done, 1) if full else 1
            self.bar.value = self.bar.max
            self.bar.bar_style = "info"

    def _say(self, text: str) -> None:
        self.text = text
        self.label.value = (f'<span style="white-space:normal;overflow-wrap:anywhere;'
                            f'line-height:1.3">{html.escape(text)}</span>')

    def update(self, state: ProgressState) -> None:
        now = time.monotonic()
        final = state.total is not None and state.done >= state.total
        if not (final or not self._displayed or now - self._last >= self._every):
            return
        self._last = now
        self._show(state)
        self._say(state.line())
        if not self._displayed:
            self._display()

    def close(self, state: ProgressState, status: str) -> None:
        self._show(state, full=status == "finished")
        self.bar.bar_style = _STYLES.get(status, "warning")
        self._say(state.line() if status == "finished" else f"{state.line()} · {status}")
        self._display()
