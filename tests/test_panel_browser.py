"""The MLOps panel in a real browser: JupyterLab with the prebuilt extension, driven by
Playwright's Python package in Debian's Chromium (``scripts/browser`` installs it).

One walk through the panel as a user would take it: a notebook's ``%%track`` cell shows up
in the Runs list without a reload, a second run is compared with it, a registered model's
version is promoted through the confirmation dialog (the alias really moves in the store),
and the lineage graph is drawn. Screenshots go to ``build/screenshots/``.

Also here: the panel's TypeScript types (``labextension/src/api-types.ts``) must be what
``openapi-typescript`` makes of ``docs/server-api.openapi.json`` today.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.lab_browser import (  # noqa: F401  (browser and lab are fixtures)
    PANEL_ID,
    ROOT,
    SIDEBAR_TAB,
    TOKEN,
    browser,
    lab,
    open_page,
    open_panel,
    readable,
    set_theme,
    shot,
    widen_sidebar,
)

LABEXTENSION = ROOT / "labextension"

SETUP = """\
%load_ext nbmlops
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["tenure", "spend", "calls"])
y = (X.tenure + 0.3 * X.spend > 0).astype(int)
"""

FIRST = """\
%%track --experiment browser --name first
C = 1.0
model = LogisticRegression(C=C).fit(X, y)
accuracy = model.score(X, y)
"""

SECOND = """\
%%track --experiment browser --name second
C = 0.01
model = LogisticRegression(C=C).fit(X, y)
accuracy = model.score(X, y)
"""


# -- the generated types ----------------------------------------------------------------------

def test_generated_api_types_are_current(tmp_path: Path) -> None:
    """The committed api-types.ts is what the OpenAPI document generates (else run
    ``jlpm generate:types`` in labextension/ and commit the result)."""
    generator = LABEXTENSION / "node_modules" / ".bin" / "openapi-typescript"
    if not generator.exists():
        pytest.skip("labextension/node_modules is not installed (pip install -e . or "
                    "jlpm install in labextension/ installs it)")
    fresh = tmp_path / "api-types.ts"
    subprocess.run([str(generator), str(ROOT / "docs" / "server-api.openapi.json"),
                    "--output", str(fresh)], check=True, capture_output=True, timeout=120)
    committed = (LABEXTENSION / "src" / "api-types.ts").read_text(encoding="utf-8")
    assert fresh.read_text(encoding="utf-8") == committed, (
        "labextension/src/api-types.ts is out of date with docs/server-api.openapi.json: "
        "run `jlpm generate:types` in labextension/")


BULK = 1200  # older runs, so that a filter matches more than the count goes to


@pytest.fixture
def bulk(store_env: Path) -> None:
    """BULK finished runs from a day ago, written in one transaction."""
    from nbmlops import api
    from nbmlops._types import Metric, NewRun, RunEnd

    first = time.time() - 86_400
    api.workspace().store.record_runs([
        (NewRun(id=f"{i:032x}", experiment="bulk", name=f"bulk-{i}", kind="cell",
                start_time=first + i),
         RunEnd(status="finished", end_time=first + i + 1,
                metrics=(Metric("bulk", float(i), 0, first + i),)))
        for i in range(BULK)])


@pytest.fixture
def registered(store_env: Path) -> dict[str, Any]:
    """Model ``churn``: v1 registered from a tracked run (with its training data), v2 from
    a bare estimator; ``production`` points at v1."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops import api

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    y = (X["a"] > 0).astype(int)
    with nbmlops.track("registry", "trained") as run:
        nbmlops.log_input(X, "train")
        model = LogisticRegression().fit(X, y)
        nbmlops.log_metric("accuracy", float(model.score(X, y)))
        run.log_model(model)
    v1 = nbmlops.register(model, name="churn", data=X)
    v2 = nbmlops.register(LogisticRegression(C=0.5).fit(X, y), name="churn", data=X)
    nbmlops.promote("churn", 1, "production", reason="first")
    api.close()  # the server process opens the store itself
    return {"run": run.id, "v1": v1, "v2": v2}


def _aliases() -> dict[str, int]:
    import nbmlops
    from nbmlops import api

    api.close()  # read what the server wrote, not a cached connection's view
    versions = nbmlops.models("churn")
    return {alias.strip(): int(row.version) for row in versions.itertuples()
            for alias in str(row.aliases).split(",") if alias.strip()}


def _notebook(root: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (SETUP, FIRST, SECOND)]
    # a long notebook: the cell that recorded a run is out of view until the panel goes to it
    nb.cells += [nbformat.v4.new_markdown_cell(f"## Notes {i}\n\n" + "More text.\n\n" * 8)
                 for i in range(12)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = root / "demo.ipynb"
    nbformat.write(nb, path)
    return path


# whether the notebook cell at an index shows inside the notebook's visible area
_IN_VIEW = """i => {
    const nb = [...window.jupyterapp.shell.widgets('main')].find(w => w.content && w.content.widgets).content;
    const cell = nb.widgets[i].node.getBoundingClientRect();
    const view = nb.node.getBoundingClientRect();
    return cell.height > 0 && cell.top < view.bottom && cell.bottom > view.top;
}"""


def _cell_in_view(page: Any, index: int) -> bool:
    return bool(page.evaluate(f"({_IN_VIEW})({index})"))


def _run_row(page: Any, name: str) -> Any:
    return page.locator('[data-testid="nbmlops-run-row"]', has_text=name)


@pytest.mark.kernel
@pytest.mark.timeout(240)
def test_panel_in_a_browser(browser: Any, bulk: None, lab: str,
                            registered: dict[str, Any], store_env: Path) -> None:
    _notebook(store_env / "root")
    context, page, errors = open_page(browser, f"{lab}/lab/tree/demo.ipynb?token={TOKEN}", 1400, 900)
    try:
        page.wait_for_selector(".jp-Notebook .jp-Cell")

        # -- the panel opens from the left sidebar, before any notebook run exists
        started = time.monotonic()
        page.click(SIDEBAR_TAB)
        page.wait_for_selector('[data-testid="nbmlops-runs-table"]')  # the registry's run
        opened_s = time.monotonic() - started
        widen_sidebar(page)
        assert _run_row(page, "trained").count() == 1

        # -- the notebook's first %%track cell: the run appears without a reload
        page.wait_for_function(
            "window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session")
        run_cells = """n => (async () => {
            const app = window.jupyterapp;
            for (let i = 0; i < n; i++) {
                await app.commands.execute('notebook:run-cell-and-select-next');
            }
        })()"""
        page.evaluate(run_cells, 2)
        _run_row(page, "first").wait_for()
        shot(page, "01-runs-live")

        # -- a second run, then both compared
        page.evaluate(run_cells, 1)
        _run_row(page, "second").wait_for()
        for name in ("first", "second"):
            _run_row(page, name).locator('[data-testid="nbmlops-run-select"]').check()
        page.click('[data-testid="nbmlops-compare-button"]')
        table = page.locator('[data-testid="nbmlops-compare-table"]')
        table.wait_for()
        assert table.locator('tr[data-key="metrics.accuracy"]').get_attribute(
            "data-differs") == "true"
        # differences only, by default: the solver both runs share is not listed
        assert table.locator('tr[data-key="params.model.solver"]').count() == 0
        page.locator('[data-testid="nbmlops-differences-only"]').uncheck()
        assert table.locator('tr[data-key="params.model.solver"]').get_attribute(
            "data-differs") == "false"
        assert table.locator("thead th").all_inner_texts()[1:] == ["first", "second"]
        page.locator('[data-testid="nbmlops-compare-chart"] circle').first.wait_for()
        shot(page, "02-compare")

        # -- one run's details: its notebook is inside the server root, so it can be opened
        page.click('[data-testid="nbmlops-tab-runs"]')
        _run_row(page, "first").locator(".nbmlops-link").click()
        page.wait_for_selector('[data-testid="nbmlops-run-details"] >> text=accuracy')
        # the notebook is scrolled to its end first: "Open cell" brings the run's cell back
        page.evaluate("""() => {
            const nb = [...window.jupyterapp.shell.widgets('main')].find(w => w.content && w.content.widgets).content;
            nb.activeCellIndex = nb.widgets.length - 1;
            return nb.scrollToCell(nb.widgets[nb.widgets.length - 1]);
        }""")
        assert not _cell_in_view(page, 1)
        button = page.locator('[data-testid="nbmlops-open-notebook"]')
        assert button.inner_text().strip() == "Open cell"
        button.click()
        page.wait_for_function("""() => {
            const w = window.jupyterapp.shell.currentWidget;
            return w && w.content && w.content.activeCellIndex === 1;
        }""")
        page.wait_for_function(f"({_IN_VIEW})(1)")
        assert page.evaluate("""() => window.jupyterapp.shell.currentWidget.content
            .activeCell.model.sharedModel.getSource()""").startswith(
            "%%track --experiment browser --name first")
        assert page.locator('[data-testid="nbmlops-cell-missing"]').count() == 0
        shot(page, "03-open-cell")

        # the cell deleted since: the notebook still opens, and the panel says why it
        # could not go to the cell
        page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.model
            .sharedModel.deleteCell(1)""")
        _run_row(page, "first").locator(".nbmlops-link").click()  # its tab, brought forward
        button.click()
        page.locator('[data-testid="nbmlops-cell-missing"]').wait_for(state="attached")  # in the run tab, now behind the notebook

        # -- a filter the server refuses is shown as a message, not a blank panel
        page.click('[data-testid="nbmlops-tab-runs"]')
        page.click('[data-testid="nbmlops-tab-runs"]')
        where = page.locator('[data-testid="nbmlops-where-filter"]')
        where.fill("metrics.accuracy >>> 1")
        where.press("Enter")
        assert page.locator('[data-testid="nbmlops-error"]').inner_text().strip()
        # -- a broad filter over many runs: the count stops at a thousand ("1,000+")
        where.fill("metrics.bulk >= 0")
        where.press("Enter")
        pager = page.locator('[data-testid="nbmlops-pager-text"]')
        page.wait_for_function(
            "el => el.textContent.includes('1,000+')", arg=pager.element_handle())
        assert pager.inner_text().strip() == "1–25 of 1,000+"
        where.fill("")
        where.press("Enter")
        _run_row(page, "first").wait_for()
        assert pager.inner_text().strip() == f"1–25 of {BULK + 3:,}"  # unfiltered: exact

        # -- promote churn v2 to production through the confirmation dialog
        page.click('[data-testid="nbmlops-tab-models"]')
        page.click('[data-testid="nbmlops-model-row"] >> text=churn')
        version = page.locator('[data-testid="nbmlops-version-row"]',
                               has=page.locator('[data-version="2"]'))
        version.wait_for()
        assert page.locator('[data-testid="nbmlops-version-row"]').count() == 2
        version.locator('[data-testid="nbmlops-version-open"]').click()
        page.locator('[data-testid="nbmlops-promote-button"][data-version="2"]').click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        assert dialog.locator('[data-testid="nbmlops-promote-alias"]').input_value() == \
            "production"
        shot(page, "04-promote-dialog")
        dialog.locator(".jp-mod-accept").click()
        page.wait_for_selector('[data-testid="nbmlops-notice"] >> text=version 2')
        assert _aliases() == {"production": 2}
        page.wait_for_selector('[data-testid="nbmlops-history-row"] >> text=promote')
        shot(page, "05-models")

        # -- the lineage of version 1: dataset -> run -> model version; a node navigates
        page.locator('[data-testid="nbmlops-version-open"][data-version="1"]').click()
        page.locator('[data-testid="nbmlops-version-lineage"]:visible').click()
        graph = page.locator('[data-testid="nbmlops-lineage"]')
        graph.locator('[data-testid="nbmlops-lineage-node"]').first.wait_for()
        ids = graph.locator('[data-testid="nbmlops-lineage-node"]').evaluate_all(
            "nodes => nodes.map(n => n.getAttribute('data-node-id'))")
        assert f"run:{registered['run']}" in ids
        assert "model_version:churn/1" in ids
        assert any(i.startswith("dataset:") for i in ids)
        readable(page, "lineage, light")
        shot(page, "06-lineage")
        graph.locator(f'[data-node-id="run:{registered["run"]}"]').click()
        page.wait_for_selector('[data-testid="nbmlops-run-details"] >> text=trained')

        assert not errors, errors
        print(f"panel open to first table: {opened_s * 1000:.0f} ms")
    except Exception:
        shot(page, "failure")
        print((store_env / "lab.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        context.close()


def test_panel_is_installed() -> None:
    """``jupyter labextension list`` shows the prebuilt panel, enabled."""
    if shutil.which("jupyter-labextension", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("JupyterLab is not installed (pip install -e '.[dev]')")
    listed = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"],
                            capture_output=True, text=True, timeout=120)
    out = listed.stdout + listed.stderr
    line = next((x for x in out.splitlines() if x.strip().startswith("nbmlops ")), "")
    assert "enabled" in line, out
    assert "OK" in line, out
    package = json.loads((ROOT / "src" / "nbmlops" / "labextension" / "package.json")
                         .read_text(encoding="utf-8"))
    assert package["name"] == "nbmlops"


# -- the workspace at 250 px, in the light and the dark theme -----------------------------------

@pytest.fixture
def workspace_runs(store_env: Path) -> dict[str, Any]:
    """A training run with a 200-step loss history and artifacts (a model card, a plot, a
    JSON file), a failed run, and a tune search with its candidates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops import api

    files = store_env / "files"
    files.mkdir()
    (files / "card.html").write_text("<h1>Model card: trainer</h1><p>Intended use</p>")
    (files / "scores.json").write_text('{"roc_auc": 0.91}')
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [3, 1, 2])
    fig.savefig(files / "curve.png")
    plt.close(fig)
    with nbmlops.track("workspace", "trainer with a deliberately long generated name") as run:
        for step in range(200):
            nbmlops.log_metric("loss", 1.0 / (step + 1), step=step)
        nbmlops.log_metric("roc_auc", 0.91)
        for name in ("card.html", "scores.json", "curve.png"):
            run.log_artifact(files / name)
    with pytest.raises(ZeroDivisionError), nbmlops.track("workspace", "broken"):
        1 / 0  # noqa: B018
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (X["a"] > 0).astype(int)
    nbmlops.tune(LogisticRegression(), {"C": [0.01, 0.1, 1.0]}, X, y, cv=2,
                 experiment="workspace", name="search", progress=False)
    api.close()
    return {"run": run.id}


def _api_requests(page: Any, seen: list[str]) -> None:
    page.on("request", lambda r: seen.append(r.url) if "/nbmlops/api/runs?" in r.url else None)


@pytest.mark.timeout(240)
def test_workspace_at_250px_light_and_dark(browser: Any, lab: str, store_env: Path,
                                           workspace_runs: dict[str, Any]) -> None:
    requests: list[str] = []
    context, page, errors = open_panel(browser, f"{lab}/lab?token={TOKEN}",
                                       before=lambda page: _api_requests(page, requests))
    try:
        page.wait_for_selector('[data-testid="nbmlops-runs-table"]')
        widen_sidebar(page, 250)
        panel = page.locator(f"#{PANEL_ID}")
        assert abs(panel.bounding_box()["width"] - 250) <= 8

        for theme, tag in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            set_theme(page, theme)
            _run_row(page, "broken").wait_for()
            # nothing clipped at 250 px: no sideways scrolling, every row's status shows
            clipped = panel.evaluate("""p => [...p.querySelectorAll(
                '.nbmlops-filters > *, .nbmlops-toolbar > *, .nbmlops-runs tr')]
                .filter(e => e.getBoundingClientRect().right > p.getBoundingClientRect().right + 1)
                .map(e => e.textContent)""")
            assert clipped == []
            for row in page.locator('[data-testid="nbmlops-run-row"]').all():
                status = row.locator('[data-testid="nbmlops-status"]')
                assert status.is_visible()
                box, pbox = status.bounding_box(), panel.bounding_box()
                assert box["x"] + box["width"] <= pbox["x"] + pbox["width"]
            # the long generated name is cut short; the whole one is in its tooltip
            name = _run_row(page, "trainer").locator(".nbmlops-run-name")
            assert "…" in name.inner_text()
            assert "trainer with a deliberately long generated name" in name.get_attribute(
                "title")
            assert readable(page, f"sidebar, {tag}") >= 3
            shot(page, f"10-sidebar-250-{tag}")

        # -- the Runs table opens as a main-area tab, the experiment's metrics as columns
        page.click('[data-testid="nbmlops-open-runs-tab"]')
        tab = page.locator('.nbmlops-tab-content[data-kind="runs"]')
        tab.locator('[data-testid="nbmlops-runs-table"]').wait_for()
        heads = tab.locator('[data-testid="nbmlops-sort-metric"]').evaluate_all(
            "hs => hs.map(h => h.dataset.key)")
        assert "loss" in heads
        assert "roc_auc" in heads
        # the search's candidates are nested under it
        search = tab.locator('[data-testid="nbmlops-run-row"]', has_text="search")
        search.locator('[data-testid="nbmlops-expand"]').click()
        tab.locator('[data-testid="nbmlops-child-row"]').nth(2).wait_for()
        assert tab.locator('[data-testid="nbmlops-child-row"]').count() == 3
        # a column chooser, remembered per experiment
        tab.locator('[data-testid="nbmlops-column-chooser"] summary').click()
        tab.locator('[data-testid="nbmlops-column-option"][data-key="roc_auc"]').uncheck()
        assert "roc_auc" not in tab.locator('[data-testid="nbmlops-sort-metric"]').evaluate_all(
            "hs => hs.map(h => h.dataset.key)")
        assert "roc_auc" not in page.evaluate(
            "() => window.localStorage.getItem('nbmlops:runs-columns:')")
        tab.locator('[data-testid="nbmlops-column-chooser"] summary').click()
        readable(page, "runs tab, dark")
        shot(page, "11-runs-tab-dark")
        # a filter the server refuses: one readable message and no stale rows under it
        where = tab.locator('[data-testid="nbmlops-where-filter"]')
        where.fill("metrics.loss >>> 1")
        where.press("Enter")
        error = tab.locator('[data-testid="nbmlops-error"]')
        error.wait_for()
        assert "&#" not in error.inner_text()
        assert tab.locator('[data-testid="nbmlops-run-row"]').count() == 0
        where.fill("")
        where.press("Enter")
        tab.locator('[data-testid="nbmlops-run-row"]').first.wait_for()

        # -- a run's tab: the loss chart, and the artifacts previewed
        tab.locator('[data-testid="nbmlops-run-row"]', has_text="trainer").locator(
            ".nbmlops-link").click()
        run = page.locator('.nbmlops-tab-content[data-kind="run"]')
        run.locator('[data-testid="nbmlops-history"] canvas').first.wait_for()
        assert run.locator('[data-testid="nbmlops-history-caption"]').inner_text().startswith(
            "1 metric by step, 200 points")
        run.locator('[data-testid="nbmlops-artifact-row"][data-name="card.html"] a').click()
        frame = run.locator('[data-testid="nbmlops-artifact-frame"]')
        frame.wait_for()
        assert frame.get_attribute("sandbox") == "allow-scripts"
        assert "Model card: trainer" in page.frame_locator(
            '[data-testid="nbmlops-artifact-frame"]').locator("h1").inner_text()
        run.locator('[data-testid="nbmlops-artifact-row"][data-name="curve.png"] a').click()
        image = run.locator('[data-testid="nbmlops-artifact-image"]')
        image.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth > 100",
                               arg=image.element_handle())
        run.locator('[data-testid="nbmlops-artifact-row"][data-name="scores.json"] a').click()
        assert '"roc_auc": 0.91' in run.locator(
            '[data-testid="nbmlops-artifact-text"]').inner_text()
        readable(page, "run tab, dark")
        shot(page, "12-run-tab-dark")
        set_theme(page, "JupyterLab Light")
        shot(page, "13-run-tab-light")

        # -- polling only while a view shows: the sidebar collapsed and the Runs tab behind
        # the run's, nothing asks for the runs list
        page.click(SIDEBAR_TAB)  # collapse
        page.wait_for_function(f"() => !document.getElementById('{PANEL_ID}')"
                               ".getClientRects().length")
        page.wait_for_timeout(500)
        before = len(requests)
        page.wait_for_timeout(7000)
        assert len(requests) == before, requests[before:]
        page.click(SIDEBAR_TAB)  # expanded again: asks at once
        deadline = time.monotonic() + 4
        while len(requests) == before and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert len(requests) > before
        assert not errors, errors
    except Exception:
        shot(page, "failure-workspace")
        print((store_env / "lab.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        context.close()


# -- the cell journal under JupyterLab, and Reproduce from the panel ----------------------------

JOURNAL_CELLS = (
    "%load_ext nbmlops",
    "import numpy as np\nfrom sklearn.linear_model import LogisticRegression",
    "rng = np.random.default_rng(0)\nX = rng.normal(size=(200, 3))\n"
    "y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)",
    "scale = 2.0",
    "Xs = X * scale",
    "print('scratch: not read by the run')",
    "%%track --experiment lab --name fit\n"
    "model = LogisticRegression(C=0.5).fit(Xs, y)\naccuracy = float(model.score(Xs, y))",
)
TRACK_CELL = len(JOURNAL_CELLS) - 1

# run the notebook's cells at these indices, one after another, as a user's Shift+Enter does
_RUN_AT = """indices => (async () => {
    const app = window.jupyterapp;
    const panel = [...app.shell.widgets('main')].find(w => w.content && w.content.widgets);
    app.shell.activateById(panel.id);
    const nb = panel.content;
    for (const i of indices) {
        nb.activeCellIndex = i;
        await app.commands.execute('notebook:run-cell');
    }
})()"""


def _api(lab: str, path: str) -> Any:
    request = urllib.request.Request(f"{lab}/nbmlops/api/{path}",
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _new_run(lab: str, experiment: str, known: set[str], timeout: float = 60) -> dict[str, Any]:
    """The experiment's run not in ``known``, once its slice is in the store (the kernel
    writes it off the cell's path)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = _api(lab, f"runs?experiment={experiment}")["items"]
        fresh = [r for r in runs if r["run_id"] not in known and r["status"] == "finished"]
        if fresh:
            sliced = _api(lab, f"runs/{fresh[0]['run_id']}/slice")
            if sliced["recorded"]:
                return sliced
        assert time.monotonic() < deadline, f"no new run of {experiment}: {runs}"
        time.sleep(0.3)


@pytest.mark.kernel
@pytest.mark.timeout(420)
def test_journal_under_jupyterlab_and_reproduce_from_the_panel(
        browser: Any, lab: str, store_env: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in JOURNAL_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, store_env / "root" / "journal.ipynb")
    context, page, errors = open_page(browser, f"{lab}/lab/tree/journal.ipynb?token={TOKEN}", 1400, 1000)
    try:
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.wait_for_function(
            "window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session")
        # JupyterLab's own ids of the notebook's cells, as its model holds them
        ids: list[str] = page.evaluate("""() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            return Array.from({length: cells.length}, (_, i) => cells.get(i).id);
        }""")
        assert len(set(ids)) == len(JOURNAL_CELLS)

        # -- every cell run in order: the run's slice is the cells it stood on, by their ids
        page.evaluate(_RUN_AT, list(range(len(JOURNAL_CELLS))))
        first = _new_run(lab, "lab", set())
        run_id = first["run_id"]
        assert first["clean"] is True, first["flags"]
        assert [c["cell_id"] for c in first["cells"]] == [ids[1], ids[2], ids[3], ids[4]]
        assert [c["code"] for c in first["cells"]] == list(JOURNAL_CELLS[1:5])
        counts = [c["execution_count"] for c in first["cells"]]
        assert counts == [2, 3, 4, 5]  # the kernel's [n]: %load_ext was [1]
        run = _api(lab, f"runs/{run_id}")
        assert (run["cell_id"], run["execution_count"]) == (ids[TRACK_CELL], 7)

        # -- the run's tab: the slice, and Reproduce in a fresh kernel
        page.click(SIDEBAR_TAB)
        _run_row(page, "fit").locator(".nbmlops-link").click()
        tab = page.locator(f'[data-testid="nbmlops-run-details"][data-run-id="{run_id}"]')
        tab.locator('[data-testid="nbmlops-slice-state"]', has_text="clean").wait_for()
        assert tab.locator('[data-testid="nbmlops-slice-cells"] tbody tr').count() == 4
        button = tab.locator('[data-testid="nbmlops-reproduce"]')
        assert button.inner_text().strip() == "Reproduce"
        button.click()
        result = tab.locator('[data-testid="nbmlops-reproduction"]')
        page.wait_for_function("el => el.dataset.state === 'running'",
                               arg=result.element_handle())
        assert tab.locator('[data-testid="nbmlops-reproduce-state"]').inner_text().startswith(
            "Reproducing")
        assert button.is_disabled()
        result.scroll_into_view_if_needed()
        shot(page, "20-reproducing")
        page.wait_for_function("el => el.dataset.state && el.dataset.state !== 'running'",
                               arg=result.element_handle(), timeout=240_000)
        state = tab.locator('[data-testid="nbmlops-reproduce-state"]')
        assert state.inner_text().strip() == "reproduced", result.inner_text()
        result.scroll_into_view_if_needed()
        readable(page, "reproduced, light")
        shot(page, "21-reproduced-light")

        # again, in the dark theme
        set_theme(page, "JupyterLab Dark")
        button.click()
        page.wait_for_function("el => el.dataset.state === 'running'",
                               arg=result.element_handle())
        page.wait_for_function("el => el.dataset.state && el.dataset.state !== 'running'",
                               arg=result.element_handle(), timeout=240_000)
        assert state.inner_text().strip() == "reproduced", result.inner_text()
        readable(page, "reproduced, dark")
        shot(page, "22-reproduced-dark")

        # the reproduction's own run, one click away
        link = tab.locator('[data-testid="nbmlops-reproduction-run"]')
        rep_id = _api(lab, f"runs/{run_id}/reproduce")["reproduction_run_id"]
        assert link.inner_text() == f"reproduction run {rep_id[:8]}"
        link.click()
        rep = page.locator(f'[data-testid="nbmlops-run-details"][data-run-id="{rep_id}"]')
        rep.locator("text=reproduce").first.wait_for()
        assert _api(lab, f"runs/{rep_id}")["tags"]["reproduced"] == "true"
        set_theme(page, "JupyterLab Light")

        # -- a cell of the slice edited and run again: the next tracked run is flagged
        page.evaluate("""() => [...window.jupyterapp.shell.widgets('main')]
            .find(w => w.content && w.content.widgets).content.model.cells
            .get(3).sharedModel.setSource('scale = 3.0')""")
        page.evaluate(_RUN_AT, [3, TRACK_CELL])
        second = _new_run(lab, "lab", {run_id})
        kinds = [f["kind"] for f in second["flags"]]
        assert "edited" in kinds, second["flags"]
        assert second["clean"] is False
        assert [c["cell_id"] for c in second["cells"]] == [ids[1], ids[2], ids[3], ids[4]]
        _run_row(page, "fit").nth(1).wait_for()  # the list shows the new run (newest first)
        _run_row(page, "fit").first.locator(".nbmlops-link").click()
        flagged = page.locator(
            f'[data-testid="nbmlops-run-details"][data-run-id="{second["run_id"]}"]')
        flags = flagged.locator('[data-testid="nbmlops-slice-flags"]')
        flags.wait_for()
        assert "edited" in flags.inner_text()
        assert "hidden-state flag" in flagged.locator(
            '[data-testid="nbmlops-slice-state"]').inner_text()
        flags.scroll_into_view_if_needed()
        shot(page, "23-flagged-after-edit")
        assert not errors, errors
    except Exception:
        shot(page, "failure-journal")
        print((store_env / "lab.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        context.close()
