"""The widgets front end: comparisons and searches shown interactively in a live notebook.

``register(shell)`` (run by ``%load_ext nbmlops``) makes IPython show a
:class:`~nbmlops.tracking.compare.Comparison` and a
:class:`~nbmlops.tuning.tune.TuneResult` as a :class:`~nbmlops.widgets.compare.CompareWidget`,
and searches report progress with a :class:`~nbmlops.widgets.progress.WidgetProgress` bar.
It does so only where widgets can be seen (:func:`_wants_widgets`): elsewhere (a terminal,
papermill, CI) the objects keep their plain text and HTML renderings.
``unregister(shell)`` undoes it.

Nothing here imports ipywidgets or matplotlib until something is displayed, so loading
the extension stays fast; the formatters are registered by class *name*, so neither class's
module is imported before the user has one of its objects.
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbmlops.progress import Progress
    from nbmlops.tracking.compare import Comparison
    from nbmlops.tuning.tune import TuneResult

WIDGETS_ENV = "NBMLOPS_WIDGETS"  # "0": plain output even in a live notebook


def _wants_widgets(shell: Any) -> bool:
    """Widgets only where someone can see them: a kernel started by a front end that
    renders them (JupyterLab and Notebook through jupyter_server, which sets
    ``JPY_SESSION_NAME``; VS Code), unless turned off with ``NBMLOPS_WIDGETS=0``.

    Kernels run by papermill or nbclient (from the command line or from Python), a
    terminal IPython and plain scripts get text, which their outputs can hold."""
    if os.environ.get(WIDGETS_ENV, "").strip() == "0":
        return False
    if type(shell).__name__ != "ZMQInteractiveShell" and not hasattr(shell, "kernel"):
        return False
    from nbmlops.tracking.notebook import papermill_parent_notebook

    if papermill_parent_notebook() is not None:
        return False
    ns = getattr(shell, "user_ns", {})
    return bool(os.environ.get("JPY_SESSION_NAME")) or "__vsc_ipynb_file__" in ns


def _show_comparison(comparison: Comparison) -> None:
    from IPython.display import display

    from nbmlops.widgets.compare import CompareWidget

    display(CompareWidget(comparison))


def _show_tune_result(result: TuneResult) -> None:
    from IPython.display import display

    from nbmlops.widgets.compare import CompareWidget

    headline = result.headline()
    display({"text/plain": headline, "text/html": f"<div><b>{html.escape(headline)}</b></div>"},
            raw=True)
    display(CompareWidget(result.comparison()))


def _widget_progress() -> Progress:
    from nbmlops.widgets.progress import WidgetProgress

    return WidgetProgress()


_FORMATTERS: dict[str, Callable[[Any], None]] = {
    "nbmlops.tracking.compare.Comparison": _show_comparison,
    "nbmlops.tuning.tune.TuneResult": _show_tune_result,
}


def _type(name: str) -> type | str:
    """The class if its module is imported already, else its dotted name (IPython then
    matches it when an object of that class is first displayed)."""
    module, _, cls = name.rpartition(".")
    loaded = sys.modules.get(module)
    found = getattr(loaded, cls, None) if loaded is not None else None
    return found if isinstance(found, type) else name


def register(shell: Any) -> None:
    """Show comparisons, search results and search progress as widgets, where wanted."""
    if not _wants_widgets(shell):
        return
    from nbmlops import progress

    formatter = shell.display_formatter.ipython_display_formatter
    for name, show in _FORMATTERS.items():
        formatter.for_type(_type(name), show)
    progress.set_default(_widget_progress)


def unregister(shell: Any) -> None:
    """Remove what :func:`register` added (and nothing someone else registered)."""
    formatter = shell.display_formatter.ipython_display_formatter
    ours = False
    for name, show in _FORMATTERS.items():
        if formatter.for_type(name) is show:
            formatter.pop(name, None)
            ours = True
    if ours:
        from nbmlops import progress

        progress.set_default(None)
