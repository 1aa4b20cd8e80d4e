"""The widgets front end: real ipywidgets objects, real matplotlib (Agg), a real IPython
shell for the display formatters, and one real kernel to see what a notebook receives."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops import progress, widgets
from nbmlops.progress import ProgressState, TextProgress
from nbmlops.tracking.compare import Comparison
from nbmlops.tuning.tune import TuneResult
from nbmlops.widgets.compare import CompareWidget
from nbmlops.widgets.progress import WidgetProgress

PNG = b"\x89PNG\r\n\x1a\n"
IDS = [f"{i:x}" * 32 for i in range(1, 7)]


def short(i: int) -> str:
    return IDS[i][:8]


@pytest.fixture
def comparison() -> Comparison:
    """Six runs of two models: one failed (no score), params missing for the other model,
    and a param mixing numbers and text."""
    frame = pd.DataFrame({
        "run_id": IDS,
        "name": ["f1", "f2", "f3", "l1", "l2", "l3"],
        "status": ["finished"] * 5 + ["failed"],
        "params.model": ["forest", "forest", "forest", "logreg", "logreg", "logreg"],
        "params.n_estimators": [50, 100, 200, np.nan, np.nan, np.nan],
        "params.C": [np.nan, np.nan, np.nan, 0.01, 1.0, 100.0],
        "params.max_features": ["sqrt", 0.5, None, None, None, None],
        "params.seed": [0] * 6,  # the same everywhere: never plotted
        "metrics.accuracy": [0.84, 0.88, 0.86, 0.71, 0.82, np.nan],
        "metrics.fit_time": [1.5, 2.5, 4.0, 0.1, 0.2, 0.05],
    })
    return Comparison.of(frame, primary="accuracy", title="model search")


def png(image: Any) -> bytes:
    """An Image widget's bytes (ipywidgets keeps them as a memoryview)."""
    return bytes(image.value)


def shown(widget: CompareWidget) -> list[str]:
    return list(widget.shown["name"])


# -- the comparison widget --------------------------------------------------------------

def test_table_shows_every_run_best_first(comparison: Comparison) -> None:
    w = CompareWidget(comparison)
    assert w.sort_by.value == "metrics.accuracy"
    assert w.sort_by.options == ("metrics.accuracy", "metrics.fit_time", "params.model",
                                 "params.n_estimators", "params.C", "params.max_features",
                                 "params.seed")
    assert w.descending.value is True  # accuracy: higher is better
    assert shown(w) == ["f2", "f3", "f1", "l2", "l1", "l3"]  # no score last
    for i in range(6):
        assert short(i) in w.table.value
    assert "<th>accuracy</th>" in w.table.value
    assert "<th>seed</th>" not in w.table.value  # the same for every run
    assert "model search" in w.header.value
    assert "6 runs" in w.header.value
    assert w.error.value == ""
    # the model state a front end receives: every control is a child widget
    state = w.get_state()
    assert len(state["children"]) == len(w.children) == 6
    assert w.sort_by.get_state()["index"] == 0
    assert w.filter.get_state()["value"] == ""


def test_sort_by_any_column_and_direction(comparison: Comparison) -> None:
    w = CompareWidget(comparison)
    w.sort_by.value = "metrics.fit_time"
    assert w.descending.value is False  # not the primary score: smallest first
    assert shown(w) == ["l3", "l1", "l2", "f1", "f2", "f3"]
    w.descending.value = True
    assert shown(w) == ["f3", "f2", "f1", "l2", "l1", "l3"]
    w.sort_by.value = "params.C"
    assert shown(w)[:3] == ["l1", "l2", "l3"]  # runs without a C last
    table = w.table.value
    assert table.index(short(3)) < table.index(short(4)) < table.index(short(0))


def test_sorting_a_column_of_numbers_and_text(comparison: Comparison) -> None:
    w = CompareWidget(comparison)
    w.sort_by.value = "params.max_features"  # 'sqrt', 0.5 and None: pandas cannot sort it
    assert w.error.value == ""
    assert shown(w)[:2] == ["f2", "f1"]  # numbers, then text, then missing
    w.descending.value = True
    assert shown(w)[:2] == ["f1", "f2"]


def test_filter_with_params_and_metrics(comparison: Comparison) -> None:
    w = CompareWidget(comparison)
    w.filter.value = "metrics.accuracy > 0.85 and params.model == 'forest'"
    assert shown(w) == ["f2", "f3"]
    assert short(1) in w.table.value
    assert short(2) in w.table.value
    for i in (0, 3, 4, 5):
        assert short(i) not in w.table.value
    assert "2 of 6 runs match" in w.table.value
    w.sort_by.value = "params.n_estimators"  # sorting keeps the filter
    assert shown(w) == ["f2", "f3"]
    w.filter.value = "status == 'failed'"
    assert shown(w) == ["l3"]
    w.filter.value = "params.C > 1000"
    assert shown(w) == []
    assert "no run of 6 matches" in w.table.value
    w.filter.value = "  "
    assert len(w.shown) == 6


def test_bad_filter_shows_the_error_and_keeps_the_rows(comparison: Comparison) -> None:
    w = CompareWidget(comparison)
    w.filter.value = "params.model == 'logreg'"
    before, table = shown(w), w.table.value
    for bad in ("metrics.accuracy >", "params.nope > 1", "metrics.accuracy > 'x' +"):
        w.filter.value = bad
        assert "cannot filter" in w.error.value
        assert "color:#c62828" in w.error.value
        assert shown(w) == before
        assert w.table.value == table
    w.filter.value = ""
    assert w.error.value == ""
    assert len(w.shown) == 6


def test_plots_are_pngs_of_the_filtered_runs(comparison: Comparison) -> None:
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    w = CompareWidget(comparison)
    assert png(w.score_plot).startswith(PNG)
    assert w.score_plot.format == "png"
    assert w.score_plot.layout.display is None
    assert "1 run without a score not shown" in w.score_note.value  # the failed one
    assert png(w.parallel_plot) == b""  # drawn when its tab is opened
    w.plots.selected_index = 1
    assert png(w.parallel_plot).startswith(PNG)
    first = (png(w.score_plot), png(w.parallel_plot))

    w.sort_by.value = "params.C"  # the same runs: no redraw
    assert (png(w.score_plot), png(w.parallel_plot)) == first
    w.filter.value = "params.model == 'forest'"  # other runs: the open tab is redrawn
    assert png(w.parallel_plot).startswith(PNG)
    assert png(w.parallel_plot) != first[1]
    assert png(w.score_plot) == first[0]  # ... and the other when opened again
    w.plots.selected_index = 0
    assert png(w.score_plot).startswith(PNG)
    assert png(w.score_plot) != first[0]
    assert w.score_note.value == ""  # every forest run has a score

    w.metric.value = "metrics.fit_time"
    assert png(w.score_plot).startswith(PNG)
    assert plt.get_fignums() == figures  # nothing left open in pyplot


def test_one_run_no_params_and_no_scores() -> None:
    base = pd.DataFrame({"run_id": IDS[:3], "name": ["a", "b", "c"],
                         "status": ["finished", "finished", "failed"]})
    one = CompareWidget(Comparison.of(base.iloc[:1].assign(**{"params.C": [1.0],
                                                              "metrics.acc": [0.5]})))
    assert shown(one) == ["a"]
    assert short(0) in one.table.value
    assert png(one.score_plot) == b""
    assert one.score_plot.layout.display == "none"
    assert "no hyperparameter takes two values" in one.score_note.value

    no_params = CompareWidget(Comparison.of(base.assign(**{"metrics.acc": [0.5, 0.7, 0.6]})))
    assert no_params.sort_by.options == ("metrics.acc",)
    assert shown(no_params) == ["b", "c", "a"]
    assert png(no_params.score_plot) == b""

    nothing = CompareWidget(Comparison.of(base))
    assert nothing.sort_by.options == ()
    assert shown(nothing) == ["a", "b", "c"]  # by run id
    assert "these runs have no metric" in nothing.score_note.value
    assert nothing.metric.disabled

    failed = CompareWidget(Comparison.of(base.assign(**{"params.C": [0.1, 1.0, 10.0],
                                                        "metrics.acc": [np.nan] * 3})))
    assert len(failed.shown) == 3
    assert "no run has a score for acc" in failed.score_note.value
    failed.plots.selected_index = 1
    assert png(failed.parallel_plot) == b""

    empty = CompareWidget(Comparison.of(base.iloc[:0]))
    assert "no runs" in empty.header.value
    assert "no runs" in empty.table.value


def test_widget_keeps_the_plain_renderings_as_fallback(comparison: Comparison) -> None:
    data = CompareWidget(comparison)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/html"] == comparison._repr_html_()
    assert data["text/plain"] == repr(comparison)


@pytest.mark.filterwarnings("ignore")  # max_depth=0 fails: scikit-learn warns
def test_widget_of_a_real_search(store_env: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    result = nbmlops.tune(DecisionTreeClassifier(random_state=0),
                          {"max_depth": [1, 3, 0], "criterion": ["gini", "entropy"]},
                          X, y, cv=2, scoring="accuracy", progress=False)
    w = CompareWidget(result.comparison())
    assert "rank" in w.sort_by.options
    assert w.sort_by.value == "metrics.accuracy"
    assert set(w.shown["run_id"]) == set(result.candidates["run_id"])
    for run_id in result.candidates["run_id"]:
        assert run_id[:8] in w.table.value
    assert w.shown["metrics.accuracy"].iloc[0] == result.best_score
    assert list(w.shown["status"].iloc[-2:]) == ["failed", "failed"]
    w.filter.value = "params.max_depth == 3"
    assert set(w.shown["params.criterion"]) == {"gini", "entropy"}
    w.filter.value = ""
    assert png(w.score_plot).startswith(PNG)
    assert "2 runs without a score not shown" in w.score_note.value
    w.plots.selected_index = 1
    assert png(w.parallel_plot).startswith(PNG)


# -- progress ---------------------------------------------------------------------------

def state(done: int, total: int | None, *, failed: int = 0, best: float | None = 0.9
          ) -> ProgressState:
    return ProgressState(description="grid search", done=done, total=total,
                         elapsed_s=1.5 * done, best=best, metric="accuracy", failed=failed)


def test_progress_bar_reaches_the_total(ipython_shell: Any,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bar = WidgetProgress(every_s=0)
    assert capsys.readouterr().out == ""
    for done in range(1, 5):
        bar.update(state(done, 4))
        assert bar.bar.value == done
        assert bar.bar.max == 4
        assert bar.text == state(done, 4).line()
    bar.close(state(4, 4), "finished")
    assert bar.bar.value == bar.bar.max == 4
    assert bar.bar.bar_style == "success"
    assert bar.text == state(4, 4).line()
    assert "4/4 candidates" in bar.text
    assert "best accuracy 0.9" in bar.text
    out = capsys.readouterr().out
    assert out.count("grid search: 1/4 candidates") == 1  # displayed once, on the first update
    assert "grid search: 4/4 candidates" in out  # ... its text updated on close


def test_progress_bar_throttles_but_never_drops_the_last_update() -> None:
    bar = WidgetProgress(every_s=3600)
    bar.update(state(1, 10))
    bar.update(state(2, 10))
    assert bar.bar.value == 1  # too soon after the first
    bar.update(state(10, 10))
    assert bar.bar.value == bar.bar.max == 10


def test_progress_bar_without_a_known_total() -> None:
    bar = WidgetProgress(every_s=0)
    bar.update(state(3, None))
    assert bar.bar.bar_style == "info"  # indeterminate: a full blue bar
    assert bar.bar.value == bar.bar.max
    assert bar.text.startswith("grid search: 3 candidates")
    bar.close(state(7, None), "finished")
    assert bar.bar.value == bar.bar.max == 7
    assert bar.bar.bar_style == "success"


@pytest.mark.parametrize(("status", "style"), [("failed", "danger"),
                                               ("interrupted", "warning")])
def test_progress_bar_when_a_search_stops(status: str, style: str) -> None:
    bar = WidgetProgress(every_s=0)
    bar.update(state(2, 5, failed=1))
    bar.close(state(3, 5, failed=1), status)
    assert bar.bar.bar_style == style
    assert bar.bar.value == 3  # stays where the search stopped
    assert bar.bar.max == 5
    assert bar.text == f"{state(3, 5, failed=1).line()} · {status}"
    assert "1 failed" in bar.text


# -- registration -----------------------------------------------------------------------

class ZMQInteractiveShell:
    """Only the class name of ipykernel's shell: what _wants_widgets looks at."""

    def __init__(self) -> None:
        self.user_ns: dict[str, Any] = {}


def test_wants_widgets_only_in_a_live_kernel(ipython_shell: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from nbmlops.tracking import notebook

    monkeypatch.delenv(widgets.WIDGETS_ENV, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(notebook, "papermill_parent_notebook", lambda: None)
    kernel_shell = ZMQInteractiveShell()
    # a kernel that no widget-rendering front end started (nbclient, papermill from Python)
    assert not widgets._wants_widgets(kernel_shell)
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/train.ipynb")  # started by jupyter_server
    assert widgets._wants_widgets(kernel_shell)
    assert not widgets._wants_widgets(ipython_shell)  # a terminal or plain shell
    monkeypatch.setenv(widgets.WIDGETS_ENV, "0")
    assert not widgets._wants_widgets(kernel_shell)
    monkeypatch.setenv(widgets.WIDGETS_ENV, "1")
    assert widgets._wants_widgets(kernel_shell)
    monkeypatch.setattr(notebook, "papermill_parent_notebook", lambda: "/nb/train.ipynb")
    assert not widgets._wants_widgets(kernel_shell)
    monkeypatch.setattr(notebook, "papermill_parent_notebook", lambda: None)
    monkeypatch.delenv("JPY_SESSION_NAME")
    kernel_shell.user_ns["__vsc_ipynb_file__"] = "/work/train.ipynb"  # VS Code
    assert widgets._wants_widgets(kernel_shell)


@pytest.fixture
def plain_shell(ipython_shell: Any, store_env: Path) -> Iterator[Any]:
    """The shared IPython shell, left as found (formatters and progress default)."""
    yield ipython_shell
    widgets.unregister(ipython_shell)
    ipython_shell.run_cell("%unload_ext nbmlops")
    progress.set_default(None)


def formatter_of(shell: Any, cls: type) -> Any:
    try:
        return shell.display_formatter.ipython_display_formatter.lookup_by_type(cls)
    except KeyError:
        return None


def test_plain_shell_keeps_the_plain_renderings(plain_shell: Any,
                                                comparison: Comparison) -> None:
    assert plain_shell.run_cell("%load_ext nbmlops").success
    assert formatter_of(plain_shell, Comparison) is None
    assert isinstance(progress.default(), TextProgress)
    data, _ = plain_shell.display_formatter.format(comparison)
    assert data["text/html"] == comparison._repr_html_()


def test_register_and_unregister_the_widget_display(
        plain_shell: Any, comparison: Comparison, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(widgets, "_wants_widgets", lambda shell: True)
    assert plain_shell.run_cell("%load_ext nbmlops").success
    assert formatter_of(plain_shell, Comparison) is widgets._show_comparison
    assert formatter_of(plain_shell, TuneResult) is widgets._show_tune_result
    assert isinstance(progress.default(), WidgetProgress)

    capsys.readouterr()
    data, _ = plain_shell.display_formatter.format(comparison)
    assert data == {}  # shown by the formatter, as a widget
    assert "model search (6 runs)" in capsys.readouterr().out  # the widget's text fallback
    result = TuneResult(run_id="a" * 32, status="finished", strategy="grid",
                        metric="accuracy", best_score=0.88, best_params={"n_estimators": 100},
                        best_model="forest", best_estimator=None, candidates=comparison.frame,
                        search=None, duration_s=1.0)
    data, _ = plain_shell.display_formatter.format(result)
    assert data == {}
    out = capsys.readouterr().out
    assert "nbmlops tune aaaaaaaa finished in 1.00 s: best accuracy 0.88" in out
    assert "grid search, 6 candidates (6 runs)" in out

    assert plain_shell.run_cell("%unload_ext nbmlops").success
    assert formatter_of(plain_shell, Comparison) is None
    assert formatter_of(plain_shell, TuneResult) is None
    assert isinstance(progress.default(), TextProgress)
    data, _ = plain_shell.display_formatter.format(comparison)
    assert data["text/html"] == comparison._repr_html_()


def test_unregister_leaves_other_formatters_alone(plain_shell: Any) -> None:
    formatter = plain_shell.display_formatter.ipython_display_formatter

    def theirs(obj: Any) -> None:
        pass

    formatter.for_type(Comparison, theirs)
    progress.set_default(WidgetProgress)
    widgets.unregister(plain_shell)
    assert formatter_of(plain_shell, Comparison) is theirs
    assert isinstance(progress.default(), WidgetProgress)  # not ours to reset
    formatter.pop(Comparison)


def test_formatters_wait_for_classes_not_yet_imported() -> None:
    assert widgets._type("nbmlops.tracking.compare.Comparison") is Comparison
    assert widgets._type("nbmlops.not_imported.Thing") == "nbmlops.not_imported.Thing"


# -- a real kernel ----------------------------------------------------------------------

def _display_outputs(kc: Any, code: str) -> list[dict[str, Any]]:
    """Run ``code``; the display_data / execute_result contents it produced."""
    msg_id = kc.execute(code)
    outputs = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("display_data", "execute_result"):
            outputs.append(msg["content"]["data"])
        elif msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
    raise AssertionError(f"no reply to {code!r}")


@pytest.mark.kernel
def test_a_notebook_receives_the_widget(store_env: Path) -> None:
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    env = {k: v for k, v in os.environ.items() if k != widgets.WIDGETS_ENV}
    env["JPY_SESSION_NAME"] = str(store_env / "project" / "lab.ipynb")  # as JupyterLab does
    km.start_kernel(env=env, cwd=str(store_env / "project"))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        make = ("import pandas as pd\nfrom nbmlops.tracking.compare import Comparison\n"
                "c = Comparison.of(pd.DataFrame({'run_id': ['a' * 32, 'b' * 32], "
                "'name': ['x', 'y'], 'status': ['finished'] * 2, 'params.C': [1, 2], "
                "'metrics.acc': [0.5, 0.7]}))")
        assert _display_outputs(kc, "%load_ext nbmlops\n" + make) == []
        [shown] = _display_outputs(kc, "c")
        assert "application/vnd.jupyter.widget-view+json" in shown
        assert "<b>runs</b> (2 runs)" in shown["text/html"]  # for viewers without widgets
        _display_outputs(kc, "%unload_ext nbmlops\nimport os\nos.environ['NBMLOPS_WIDGETS'] = '0'"
                             "\n%load_ext nbmlops")
        [plain] = _display_outputs(kc, "c")
        assert "application/vnd.jupyter.widget-view+json" not in plain
        assert "<b>runs</b> (2 runs)" in plain["text/html"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_score_plot_axes_for_numbers_categories_and_gaps(comparison: Comparison) -> None:
    from nbmlops.widgets.plots import param_axes

    axes = {a.name: a for a in param_axes(comparison.frame, comparison.params)}
    assert set(axes) == {"model", "n_estimators", "C", "max_features"}  # not seed
    assert axes["model"].categories == ("forest", "logreg")
    assert axes["C"].kind == "categorical"  # a few values, some runs without one
    assert axes["C"].categories == ("0.01", "1", "100", "None")
    assert axes["max_features"].categories == ("0.5", "sqrt", "None")
    wide = pd.DataFrame({"params.C": 10 ** np.linspace(-3, 3, 20)})
    [log] = param_axes(wide, ("params.C",))
    assert log.kind == "log"
    assert not any(math.isnan(v) for v in log.positions)
