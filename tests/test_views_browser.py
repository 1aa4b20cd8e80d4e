"""The panel's views in a real browser (JupyterLab + Chromium, as test_panel_browser.py):
Compare of several runs, read as a person reads it, at 1440×900 in the light and the dark
theme. Screenshots go to ``build/screenshots/``."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lab_browser import (  # noqa: F401  (browser and lab are fixtures)
    PANEL_ID,
    SIDEBAR_TAB,
    TOKEN,
    browser,
    contrast,
    lab,
    open_page,
    open_panel,
    readable,
    shot,
    widen_sidebar,
)
from tests.test_panel_browser import _run_row

AUCS = {"alpha": 0.77, "beta": 0.74, "gamma": 0.76, "delta": 0.75}


@pytest.fixture
def compared(store_env: Path) -> dict[str, str]:
    """Four runs of experiment ``cmp``: C differs, ``seed`` is set in one run only,
    ``solver`` is the same in all; ``auc`` close together (0.74–0.77); ``loss`` by step."""
    import nbmlops
    from nbmlops import api

    ids = {}
    for i, (name, auc) in enumerate(AUCS.items()):
        params: dict[str, Any] = {"C": 10.0 ** (i - 2), "solver": "lbfgs"}
        if name == "alpha":
            params["seed"] = 7
        with nbmlops.track("cmp", name, params=params) as run:
            for step in range(20):
                nbmlops.log_metric("loss", (1.0 + i / 4) / (step + 1), step=step)
            nbmlops.log_metric("auc", auc)
        ids[name] = run.id
    api.close()  # the server process opens the store itself
    return ids


@pytest.mark.timeout(240)
@pytest.mark.parametrize("theme", ["light", "dark", "high-contrast"])
def test_compare_view(browser: Any, lab: str, compared: dict[str, str],
                      theme: str) -> None:
    context, page, errors = open_panel(browser, f"{lab}/lab?token={TOKEN}", theme)
    try:
        page.wait_for_selector('[data-testid="nbmlops-runs-table"]')
        widen_sidebar(page, 900)
        for name in AUCS:
            _run_row(page, name).locator('[data-testid="nbmlops-run-select"]').check()
        started = time.monotonic()
        page.click('[data-testid="nbmlops-compare-button"]')
        table = page.locator('[data-testid="nbmlops-compare-table"]')
        table.wait_for()
        page.locator('[data-testid="nbmlops-compare-chart"] circle').first.wait_for()
        shown_ms = (time.monotonic() - started) * 1000

        # differences only, on by default: metrics first, then the param that differs
        assert page.locator('[data-testid="nbmlops-differences-only"]').is_checked()
        keys = table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.key)")
        assert keys == ["metrics.auc", "metrics.loss", "params.C"]
        assert table.locator("tbody tr.nbmlops-differs").count() == 3
        note = page.locator('[data-testid="nbmlops-compare-note"]').inner_text()
        assert note == "4 runs · 3 that differ, 2 the same in every run hidden"

        # everything: seed is missing in three runs (shown as missing, not a difference)
        page.locator('[data-testid="nbmlops-differences-only"]').uncheck()
        seed = table.locator('tr[data-key="params.seed"]')
        assert seed.get_attribute("data-differs") == "false"
        assert "nbmlops-differs" not in (seed.get_attribute("class") or "")
        assert seed.locator('td[data-missing="true"]').count() == 3
        assert seed.locator("td").all_inner_texts() == ["7", "—", "—", "—"]
        assert table.locator('tr[data-key="params.solver"]').get_attribute(
            "data-differs") == "false"

        # the dot plot: an axis around the values, not from zero; 0.77 far from 0.74
        chart = page.locator('[data-testid="nbmlops-compare-chart"]')
        ticks = [float(t) for t in chart.locator(".nbmlops-tick text").all_text_contents()]
        assert min(ticks) >= 0.7
        assert max(ticks) <= 0.8
        dots = chart.locator("circle.nbmlops-dot")
        assert dots.count() == 4
        xs = {d.locator("title").text_content().split(":")[0]: d.bounding_box()["x"]
              for d in dots.all()}
        assert xs["alpha"] - xs["beta"] > 0.6 * chart.bounding_box()["width"]
        assert "not from zero" in page.locator(".nbmlops-figure figcaption").first.inner_text()

        # the metric's history overlaid (uPlot draws on a canvas; its legend names runs)
        page.select_option('[data-testid="nbmlops-chart-metric"]', "loss")
        curves = page.locator('[data-testid="nbmlops-compare-curves"]')
        curves.locator("canvas").wait_for()
        legend = curves.locator(".u-legend .u-series .u-label").all_inner_texts()
        assert legend == ["step", *AUCS]
        assert curves.bounding_box()["width"] > 400
        # a param against the metric, one point per run
        page.select_option('[data-testid="nbmlops-chart-metric"]', "auc")
        page.locator('[data-testid="nbmlops-compare-curves-none"]').wait_for()  # no history
        scatter = page.locator('[data-testid="nbmlops-compare-scatter"]')
        scatter.locator("canvas").wait_for()
        assert page.locator('[data-testid="nbmlops-chart-param"]').input_value() == "C"
        assert "auc against C: 4 runs" in scatter.locator("xpath=..").inner_text()

        # parallel coordinates: the differing metrics and params as axes, a line per run
        parallel = page.locator('[data-testid="nbmlops-parallel"]')
        axes = parallel.locator('[data-testid="nbmlops-parallel-axis"]')
        assert axes.evaluate_all("as => as.map(a => a.dataset.key)") == [
            "metrics.auc", "metrics.loss", "params.C"]
        assert parallel.locator('[data-testid="nbmlops-parallel-lines"]').get_attribute(
            "data-lines") == "4"
        auc_ticks = [float(t) for t in axes.first.locator(".nbmlops-tick text")
                     .all_text_contents()]
        assert min(auc_ticks) >= 0.7  # an axis around the values, not from zero
        assert max(auc_ticks) <= 0.8
        c_axis = axes.nth(2)
        assert "(log)" in c_axis.text_content()  # C runs 0.01 to 10
        # the best auc (alpha) at the top of the auc axis, the worst (beta) at the bottom;
        # each run's line drawn through its values (ink on the canvas where it passes)
        values = {name: {"metrics.auc": auc, "metrics.loss": (1.0 + i / 4) / 20,
                         "params.C": 10.0 ** (i - 2)}
                  for i, (name, auc) in enumerate(AUCS.items())}
        ys = {name: _line_point(page, values[name], 0)[1] for name in AUCS}
        assert ys["alpha"] < ys["gamma"] < ys["delta"] < ys["beta"]
        for name in AUCS:
            for along in (0.5, 1.5):
                assert page.evaluate(_INK, _line_point(page, values[name], along)), (name, along)
        # hovering a line names its run and lifts it above the others
        x, y = _line_point(page, values["gamma"], 0.25)
        page.mouse.move(x, y)
        hovered = page.locator('[data-testid="nbmlops-parallel-hovered"]')
        page.wait_for_function("el => el.textContent.startsWith('gamma: ')",
                               arg=hovered.element_handle())
        assert "auc=0.76" in hovered.inner_text()
        highlight = parallel.locator('[data-testid="nbmlops-parallel-highlight"]')
        assert highlight.get_attribute("data-run") == compared["gamma"]
        assert "nbmlops-mod-hover" in highlight.get_attribute("class")
        assert readable(page, f"compare, {theme}") >= 0
        parallel.scroll_into_view_if_needed()
        shot(page, f"views-compare-parallel-{theme}")

        # readable in this theme: the table's text against its background
        for cell in ('tr[data-key="metrics.auc"] td', 'tr[data-key="metrics.auc"] th',
                     'tr[data-key="params.seed"] td[data-missing="true"]'):
            ratio = contrast(table.locator(cell).first)
            assert ratio >= 4.5, (cell, ratio)
        page.locator('[data-testid="nbmlops-differences-only"]').check()
        page.locator('[data-testid="nbmlops-compare"]').scroll_into_view_if_needed()
        shot(page, f"views-compare-{theme}")
        page.select_option('[data-testid="nbmlops-chart-metric"]', "loss")
        curves.locator("canvas").wait_for()
        curves.scroll_into_view_if_needed()
        shot(page, f"views-compare-charts-{theme}")
        assert not errors, errors
        print(f"compare of 4 runs shown in {shown_ms:.0f} ms ({theme})")
    except Exception:
        shot(page, f"views-failure-{theme}")
        raise
    finally:
        context.close()


@pytest.fixture
def models(store_env: Path) -> dict[str, Any]:
    """Model ``churn``: v1 with a card and signature, v2 without; ``production`` set once
    (to 1), ``staging`` moved 1 → 2; a live deployment ``churn-api`` follows @production."""
    import os
    import uuid

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops import api
    from nbmlops._types import Actor, NewDeployment

    rng = np.random.default_rng(2)
    X = pd.DataFrame({"tenure": rng.normal(size=150), "spend": rng.normal(size=150)})
    y = (X["tenure"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    nbmlops.register(model, name="churn", data=X, evaluate=(X, y))
    nbmlops.register(LogisticRegression(C=0.5).fit(X, y), name="churn")
    nbmlops.promote("churn", 1, "production")
    nbmlops.promote("churn", 1, "staging")
    nbmlops.promote("churn", 2, "staging")
    api.workspace().store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="churn-api", model="churn", alias="production", version=1,
        url="http://127.0.0.1:1", workers=1, pid=os.getpid(), process_token="t",
        user="me", host="here", started_at=time.time()), actor=Actor(user="me", host="here"))
    api.close()
    return {}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_models_view(browser: Any, lab: str, models: dict[str, Any],
                     theme: str) -> None:
    import nbmlops
    from nbmlops import api

    context, page, errors = open_panel(browser, f"{lab}/lab?token={TOKEN}", theme)
    try:
        page.wait_for_selector('[data-testid="nbmlops-runs-table"], .nbmlops-muted')
        widen_sidebar(page, 900)
        page.click('[data-testid="nbmlops-tab-models"]')
        page.click('[data-testid="nbmlops-model-row"] >> text=churn')
        production = page.locator('[data-testid="nbmlops-alias"][data-alias="production"]')
        staging = page.locator('[data-testid="nbmlops-alias"][data-alias="staging"]')
        page.locator('[data-testid="nbmlops-history-row"]').first.wait_for()
        # roll back only where the alias moved before
        staging.locator('[data-testid="nbmlops-rollback-button"]').wait_for()
        assert staging.locator('[data-testid="nbmlops-rollback-button"]').inner_text() == \
            "Roll back to 1"
        assert production.locator('[data-testid="nbmlops-rollback-button"]').count() == 0
        assert "never moved" in production.inner_text()
        assert "served by churn-api" in production.inner_text()

        # a version: its signature and its card in a sandboxed frame
        page.locator('[data-testid="nbmlops-version-open"][data-version="1"]').click()
        view = page.locator('[data-testid="nbmlops-version-view"][data-version="1"]:visible')
        view.wait_for()
        signature = view.locator('[data-testid="nbmlops-signature-row"]').all_inner_texts()
        assert any("tenure" in r for r in signature)
        assert any(r.startswith("out") for r in signature)
        frame = view.locator('[data-testid="nbmlops-model-card"]')
        assert frame.get_attribute("sandbox") == ""
        card = page.frame_locator('[data-testid="nbmlops-model-card"]')
        card.locator("text=model card").first.wait_for()
        shot(page, f"views-model-{theme}")

        # the promote dialog names the deployment that follows the alias
        page.locator('[data-testid="nbmlops-version-open"][data-version="2"]').click()
        button = page.locator('[data-testid="nbmlops-promote-button"][data-version="2"]')
        button.click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        said = dialog.locator('[data-testid="nbmlops-promote-followers"]').inner_text()
        assert said.startswith("Live deployment following @production: churn-api")
        dialog.locator('[data-testid="nbmlops-promote-alias"]').fill("canary")
        assert dialog.locator('[data-testid="nbmlops-promote-followers"]').inner_text() == \
            "No live deployment follows @canary."
        shot(page, f"views-promote-dialog-{theme}")
        dialog.locator(".jp-mod-reject").click()
        dialog.wait_for(state="detached")

        # a promote from a shell: the view follows without a reload
        nbmlops.promote("churn", 2, "production", reason="from a shell")
        api.close()
        page.wait_for_function(
            "el => el.textContent.includes('version 2')", arg=production.element_handle(),
            timeout=10_000)
        production.locator('[data-testid="nbmlops-rollback-button"]').wait_for()
        assert production.locator('[data-testid="nbmlops-rollback-button"]').inner_text() == \
            "Roll back to 1"
        badge = contrast(production.locator(".nbmlops-badge"))
        assert badge >= 4.5, badge
        assert not errors, errors
    except Exception:
        shot(page, f"views-failure-models-{theme}")
        raise
    finally:
        context.close()


MANY = 1000


@pytest.fixture
def many_runs(store_env: Path) -> list[str]:
    """A thousand runs of experiment ``wide``: lr, depth and auc differ in each."""
    import nbmlops
    from nbmlops import api

    ids = []
    for i in range(MANY):
        with nbmlops.track("wide", f"r{i:04d}", params={"lr": 10.0 ** (-1 - i % 4),
                                                        "depth": 2 + i % 7}) as run:
            nbmlops.log_metric("auc", 0.6 + (i * 37 % 1000) / 4000)
        ids.append(run.id)
    api.close()
    return ids


# strokes on the parallel-coordinates canvas from now on (a hover must draw none)
_WATCH = """() => {
    const lines = document.querySelector('[data-testid=nbmlops-parallel-lines]');
    window.__pcStrokes = 0;
    const stroke = CanvasRenderingContext2D.prototype.stroke;
    CanvasRenderingContext2D.prototype.stroke = function (...args) {
        if (this.canvas === lines) { window.__pcStrokes += 1; }
        return stroke.apply(this, args);
    };
}"""


@pytest.mark.timeout(400)
def test_parallel_hover_with_1000_runs(browser: Any, lab: str, many_runs: list[str]) -> None:
    """Compare of 1,000 runs: hovering a line highlights it and names its run, and re-renders
    none of the thousand lines (only the overlay line and the caption change)."""
    context, page, errors = open_page(browser, f"{lab}/lab?token={TOKEN}")
    page.set_default_timeout(60_000)
    try:
        page.wait_for_selector(SIDEBAR_TAB)
        page.evaluate("ids => window.jupyterapp.commands.execute('nbmlops:open', "
                      "{kind: 'compare', args: {ids}})", ",".join(many_runs))
        parallel = page.locator('[data-testid="nbmlops-parallel"]')
        parallel.wait_for()
        lines = parallel.locator('[data-testid="nbmlops-parallel-lines"]')
        assert lines.get_attribute("data-lines") == str(MANY)
        parallel.scroll_into_view_if_needed()
        page.evaluate(f"({_WATCH})()")
        hovered = page.locator('[data-testid="nbmlops-parallel-hovered"]')
        highlight = parallel.locator('[data-testid="nbmlops-parallel-highlight"]')

        def values(i: int) -> dict[str, float]:
            return {"metrics.auc": 0.6 + (i * 37 % 1000) / 4000,
                    "params.lr": 10.0 ** (-1 - i % 4), "params.depth": 2 + i % 7}

        timings = []
        before = hovered.inner_text()
        for i in (999, 500, 3):  # drawn last (on top), then others: each names its run
            x, y = _line_point(page, values(i), 0.5)
            started = time.monotonic()
            page.mouse.move(x, y)
            page.wait_for_function("([el, was]) => el.textContent !== was",
                                   arg=[hovered.element_handle(), before])
            timings.append((time.monotonic() - started) * 1000)
            before = hovered.inner_text()
            # lines cross: the hovered run is one whose line passes within reach of the
            # pointer (its own, or one drawn over it there), named as its line is lifted
            top = many_runs.index(highlight.get_attribute("data-run"))
            assert before.startswith(f"r{top:04d}: "), (before, top)
            a, b = _line_point(page, values(top), 0), _line_point(page, values(top), 1)
            assert _distance((x, y), a, b) <= 6.5, (i, top)
            assert "nbmlops-mod-hovering" in parallel.get_attribute("class")
        assert page.evaluate("() => window.__pcStrokes") == 0  # no line drawn again
        shot(page, "views-compare-parallel-1000")

        # the table draws the run columns in view, more as it scrolls: the last run's
        # column is there once scrolled to the right end, with its values
        table = page.locator('[data-testid="nbmlops-compare-table"]')
        heads = table.locator("thead th[title]")
        assert 5 <= heads.count() < 100
        assert many_runs[0] in heads.first.get_attribute("title")
        assert table.locator(f'thead th[title*="{many_runs[-1]}"]').count() == 0
        box = page.locator(".nbmlops-compare-scroll")
        box.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
        last = table.locator(f'thead th[title*="{many_runs[-1]}"]')
        last.wait_for()
        right = box.bounding_box()
        cell = last.bounding_box()
        assert right["x"] < cell["x"]
        assert cell["x"] + cell["width"] <= right["x"] + right["width"] + 1
        auc = table.locator('tr[data-key="metrics.auc"] td:not(.nbmlops-spacer)')
        assert abs(float(auc.last.inner_text()) - (0.6 + (999 * 37 % 1000) / 4000)) < 1e-4
        assert table.locator("thead th[title]").count() < 100
        page.mouse.move(5, 5)
        page.wait_for_function("el => el.textContent.startsWith('Hover a line')",
                               arg=hovered.element_handle())
        assert highlight.count() == 0
        assert not errors, errors
        print(f"hover of 1,000 lines highlighted in {max(timings):.0f} ms at most")
    except Exception:
        shot(page, "views-failure-parallel-1000")
        raise
    finally:
        context.close()


# a point of a run's parallel-coordinates line, in page coordinates, from its values (by
# axis key) placed on the axes as their ticks say (log ones in powers of ten): ``along``
# 0 is on the first axis, 1 on the second, 0.5 halfway between them
_ON_LINE = """([values, along]) => {
    const fig = document.querySelector('[data-testid=nbmlops-parallel]');
    const m = fig.querySelector('svg').getScreenCTM();
    const axes = [...fig.querySelectorAll('[data-testid=nbmlops-parallel-axis]')];
    const onAxis = g => {
        const log = g.querySelector('.nbmlops-pc-kind').textContent.includes('(log)');
        const f = v => (log ? Math.log10(v) : v);
        const ticks = [...g.querySelectorAll('.nbmlops-tick')].map(t => [
            f(parseFloat(t.querySelector('text').textContent)),
            parseFloat(t.querySelector('line').getAttribute('y1'))]).sort((a, b) => a[0] - b[0]);
        const [v0, y0] = ticks[0], [v1, y1] = ticks[ticks.length - 1];
        const x = parseFloat(g.querySelector('line').getAttribute('x1'));
        return [x, y0 + (f(values[g.dataset.key]) - v0) * (y1 - y0) / (v1 - v0)];
    };
    const i = Math.min(Math.floor(along), axes.length - 2), t = along - i;
    const [xa, ya] = onAxis(axes[i]), [xb, yb] = onAxis(axes[i + 1]);
    const x = xa + (xb - xa) * t, y = ya + (yb - ya) * t;
    return [x * m.a + y * m.c + m.e, x * m.b + y * m.d + m.f];
}"""

# whether the parallel-coordinates canvas has ink within a pixel of a page point
_INK = """([x, y]) => {
    const canvas = document.querySelector('[data-testid=nbmlops-parallel-lines]');
    const box = canvas.getBoundingClientRect(), r = canvas.width / box.width;
    const px = Math.round((x - box.left) * r), py = Math.round((y - box.top) * r);
    const ink = canvas.getContext('2d').getImageData(px - r, py - r, 2 * r + 1, 2 * r + 1).data;
    for (let i = 3; i < ink.length; i += 4) { if (ink[i] > 0) { return true; } }
    return false;
}"""


def _line_point(page: Any, values: dict[str, float], along: float) -> tuple[float, float]:
    x, y = page.evaluate(_ON_LINE, [values, along])
    return float(x), float(y)


def _distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """How far point p is from the segment a-b."""
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


# -- a run's metric history: metrics overlaid, by step or by time, zoom ------------------------

@pytest.fixture
def learner(store_env: Path) -> dict[str, str]:
    """Run ``learner``: loss, val_loss and lr (a thousand times smaller) over 200 steps, 30 s
    apart, val_acc at every tenth of them, its training data logged, its model registered as ``learner`` version 1."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops import api

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] > 0).astype(int)
    start = time.time() - 7200
    with nbmlops.track("hist", "learner") as run:
        nbmlops.log_input(X, "train")
        for step in range(200):
            at = start + 30 * step
            nbmlops.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=at)
            nbmlops.log_metric("val_loss", 1.2 / (step + 1) + 0.01, step=step, timestamp=at)
            nbmlops.log_metric("lr", 1e-3 * 0.99 ** step, step=step, timestamp=at)
            if step % 10 == 5:  # every tenth step only: a series with gaps on the others' x
                nbmlops.log_metric("val_acc", 0.5 + step / 500, step=step, timestamp=at)
        model = LogisticRegression().fit(X, y)
        nbmlops.log_metric("accuracy", float(model.score(X, y)))
        run.log_model(model)
    nbmlops.register(model, name="learner", data=X)
    api.close()
    return {"run": run.id}


LONG = 100_000  # values of the long run's loss


@pytest.fixture
def long_training(learner: dict[str, str]) -> str:
    """Run ``long training`` (experiment ``hist``): a loss over LONG steps, one spike at
    step 55,555, written in one transaction."""
    import math

    from nbmlops import api
    from nbmlops._types import Metric, NewRun, RunEnd

    start = time.time() - 86_400
    run_id = "1" * 32
    api.workspace().store.record_runs([(
        NewRun(id=run_id, experiment="hist", name="long training", kind="cell",
               start_time=start),
        RunEnd(status="finished", end_time=start + LONG, metrics=tuple(
            Metric("loss", 50.0 if i == 55_555 else 1.0 + math.sin(i / 500) / 2, i,
                   start + i) for i in range(LONG))))])
    api.close()
    return run_id


# the colours of a uPlot legend's series markers and the WCAG contrast of each against the
# theme's background (a line needs 3:1 to be seen, WCAG 1.4.11)
_MARKERS = """el => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const rgb = s => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = s;
        ctx.fillRect(0, 0, 1, 1); return Array.from(ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)); };
    const lum = c => { const [r, g, b] = c.map(v => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    const back = lum(rgb(getComputedStyle(document.body).getPropertyValue('--jp-layout-color1')));
    return [...el.querySelectorAll('.u-legend .u-series')].slice(1).map(s => {
        const colour = getComputedStyle(s.querySelector('.u-marker')).borderColor;
        const l = lum(rgb(colour));
        return [s.querySelector('.u-label').textContent, colour,
                (Math.max(l, back) + 0.05) / (Math.min(l, back) + 0.05)];
    });
}"""


@pytest.mark.timeout(240)
@pytest.mark.parametrize("theme", ["light", "dark", "high-contrast"])
def test_run_metric_history(browser: Any, lab: str, learner: dict[str, str],
                            long_training: str, theme: str) -> None:
    context, page, errors = open_panel(browser, f"{lab}/lab?token={TOKEN}", theme)
    try:
        _run_row(page, "learner").wait_for()
        width = page.locator(f"#{PANEL_ID}").bounding_box()["width"]
        assert 240 <= width <= 260  # the sidebar at its default width
        assert readable(page, f"sidebar, {theme}") >= 1
        _run_row(page, "learner").locator(".nbmlops-link").click()
        run = page.locator('.nbmlops-tab-content[data-kind="run"]')
        history = run.locator('[data-testid="nbmlops-history"]')
        history.locator("canvas").first.wait_for()

        # one metric at first, by step: its name in the legend, the axis named
        assert history.get_attribute("data-x") == "step"
        legend = history.locator(".u-legend .u-series .u-label")
        assert legend.all_inner_texts() == ["step", "loss"]
        picks = run.locator('[data-testid="nbmlops-history-metric"]')
        assert picks.evaluate_all("ps => ps.map(p => p.dataset.key)") == [
            "loss", "lr", "val_acc", "val_loss"]  # accuracy has one value: not a pick
        caption = run.locator('[data-testid="nbmlops-history-caption"]')
        assert caption.inner_text().startswith("1 metric by step, 200 points")

        # three overlaid: a legend entry each, each its own theme colour, visible on the
        # background; lr (a thousand times smaller) on its own right-hand axis
        run.locator('[data-testid="nbmlops-history-metric"][data-key="val_loss"]').check()
        run.locator('[data-testid="nbmlops-history-metric"][data-key="lr"]').check()
        page.wait_for_function("el => el.dataset.series === '3'",
                               arg=history.element_handle())
        assert legend.all_inner_texts() == ["step", "loss", "lr", "val_loss"]
        markers = history.evaluate(_MARKERS)
        assert len({colour for _, colour, _ in markers}) == 3, markers
        assert all(ratio >= 3 for _, _, ratio in markers), markers
        assert "(lr on the right-hand axis)" in caption.inner_text()
        assert "600 points" in caption.inner_text()
        assert run.locator(
            '[data-testid="nbmlops-history-chart"]').get_attribute("aria-label") == "loss, lr, val_loss by step"

        # zoom: drag across a third of the chart, double-click to see it all again
        over = history.locator(".u-over")
        box = over.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=6)
        page.mouse.up()
        zoom = run.locator('[data-testid="nbmlops-history-zoom"]')
        page.wait_for_function("el => el.textContent.startsWith('zoomed to step')",
                               arg=zoom.element_handle())
        low, high = float(history.get_attribute("data-x-min")), float(
            history.get_attribute("data-x-max"))
        assert 40 < low < 80, (low, high)
        assert 100 < high < 140, (low, high)
        assert zoom.inner_text().endswith("of 0 – 199; double-click to reset")
        shot(page, f"views-run-history-zoomed-{theme}")
        over.dblclick()
        page.wait_for_function("el => el.textContent === 'drag across the chart to zoom'",
                               arg=zoom.element_handle())
        assert history.get_attribute("data-x-min") == "0"
        assert history.get_attribute("data-x-max") == "199"

        # by time: the same series over the two hours they were logged in
        run.locator('[data-testid="nbmlops-history-by-time"]').click()
        page.wait_for_function("el => el.dataset.x === 'time'", arg=history.element_handle())
        assert legend.all_inner_texts() == ["time", "loss", "lr", "val_loss"]
        span = float(history.get_attribute("data-x-max")) - float(
            history.get_attribute("data-x-min"))
        assert span == pytest.approx(199 * 30, abs=1)
        assert caption.inner_text().startswith("3 metrics by time")

        # a series logged at fewer steps overlaid on the others: placed at its own steps
        run.locator('[data-testid="nbmlops-history-metric"][data-key="val_acc"]').check()
        page.wait_for_function("el => el.dataset.series === '4'", arg=history.element_handle())
        assert caption.inner_text().startswith("4 metrics by time, 620 points")
        run.locator('[data-testid="nbmlops-history-by-step"]').click()
        page.wait_for_function("el => el.dataset.x === 'step'", arg=history.element_handle())
        assert legend.all_inner_texts() == ["step", "loss", "lr", "val_acc", "val_loss"]
        assert (history.get_attribute("data-x-min"), history.get_attribute("data-x-max")) == (
            "0", "199")
        # the cursor on step 15 shows val_acc's value there, on step 16 a gap
        acc = history.locator(".u-legend .u-series").nth(3).locator(".u-value")
        box = history.locator(".u-over").bounding_box()
        for step, shown in ((15, True), (16, False)):
            page.mouse.move(box["x"] + box["width"] * step / 199, box["y"] + box["height"] / 2)
            page.wait_for_function(
                "([el, want]) => (el.textContent !== '—') === want && el.textContent !== ''",
                arg=[acc.element_handle(), shown])
        run.locator('[data-testid="nbmlops-history-by-time"]').click()
        page.wait_for_function("el => el.dataset.x === 'time'", arg=history.element_handle())
        assert readable(page, f"run tab, {theme}") >= 1  # its status badge
        history.scroll_into_view_if_needed()
        shot(page, f"views-run-history-{theme}")

        # 100,000 values: about two points per pixel of them, said in the caption; the
        # chart's one read asked for as the tab opens, before the run's own record
        seen: list[tuple[str, str]] = []
        asked = lambda r: seen.append(("asked", r.url.split("/nbmlops/api/")[-1]))  # noqa: E731
        came = lambda r: seen.append(("came", r.url.split("/nbmlops/api/")[-1]))  # noqa: E731
        page.on("request", asked)
        page.on("response", came)
        _run_row(page, "long training").locator(".nbmlops-link").click()
        run = page.locator('.nbmlops-tab-content[data-kind="run"]:visible')
        history = run.locator('[data-testid="nbmlops-history"]')
        history.locator("canvas").first.wait_for()
        page.remove_listener("request", asked)
        page.remove_listener("response", came)
        charts = [i for i, (what, url) in enumerate(seen)
                  if what == "asked" and "/metric-charts?" in url]
        record = [i for i, (what, url) in enumerate(seen)
                  if what == "came" and re.fullmatch(r"runs/\w+\?\d+", url)]
        assert len(charts) == 1, seen
        assert record, seen
        assert charts[0] < record[0], seen
        assert not [url for _, url in seen if "/metric-series" in url], seen
        caption = run.locator('[data-testid="nbmlops-history-caption"]')
        assert " of 100,000 points, each span's lowest and highest" in caption.inner_text()
        drawn = int(history.get_attribute("data-points"))
        chart = run.locator('[data-testid="nbmlops-history-chart"]').bounding_box()["width"]
        assert chart <= drawn <= 2 * chart + 4, (drawn, chart)
        assert (history.get_attribute("data-x-min"), history.get_attribute("data-x-max")) == (
            "0", str(LONG - 1))
        shot(page, f"views-run-history-long-{theme}")
        # a zoom to a hundredth of it is read again: every value in the range
        over = history.locator(".u-over")
        box = over.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.55, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.56, y, steps=4)
        page.mouse.up()
        page.wait_for_function("el => el.dataset.everyPoint === 'true'",
                               arg=history.element_handle())
        low, high = float(history.get_attribute("data-x-min")), float(
            history.get_attribute("data-x-max"))
        assert 54_000 < low < high < 57_000, (low, high)
        assert 500 < high - low < 1_500, (low, high)  # a hundredth of the width
        in_range = math.floor(high) - math.ceil(low) + 1
        assert int(history.get_attribute("data-points")) == in_range
        assert f"{in_range:,} of 100,000 points, every one in this range" in caption.inner_text()
        zoom = run.locator('[data-testid="nbmlops-history-zoom"]')
        assert zoom.inner_text().startswith("zoomed to step")
        assert zoom.inner_text().endswith("of 0 – 99999; double-click to reset")
        shot(page, f"views-run-history-long-zoomed-{theme}")
        over.dblclick()
        page.wait_for_function("el => el.textContent === 'drag across the chart to zoom'",
                               arg=zoom.element_handle())
        page.wait_for_function("el => el.dataset.everyPoint === 'false'",
                               arg=history.element_handle())
        assert int(history.get_attribute("data-points")) == drawn
        assert history.get_attribute("data-x-max") == str(LONG - 1)

        # the lineage of the model registered from the run: every node readable
        page.click('[data-testid="nbmlops-tab-models"]')
        page.click('[data-testid="nbmlops-model-row"] >> text=learner')
        page.locator('[data-testid="nbmlops-version-open"][data-version="1"]').click()
        page.locator('[data-testid="nbmlops-version-lineage"]:visible').click()
        nodes = page.locator('[data-testid="nbmlops-lineage-node"]:visible')
        nodes.first.wait_for()
        assert readable(page, f"lineage, {theme}") >= 3  # dataset, run, model version
        shot(page, f"views-lineage-{theme}")
        assert not errors, errors
    except Exception:
        shot(page, f"views-failure-history-{theme}")
        raise
    finally:
        context.close()


# Inside the page: open the Runs tab by the panel's command and read, in the same task (before
# any request could answer), what the tab holds: its run names, whether they are the held
# rows, and what its toolbar says.
_OPEN_RUNS_AND_READ = """() => {
    window.jupyterapp.commands.execute('nbmlops:open', {kind: 'runs', args: {}});
    const tab = document.querySelector('.nbmlops-tab-content[data-kind="runs"]');
    const table = tab && tab.querySelector('[data-testid="nbmlops-runs-table"]');
    return {
        rows: table ? Array.from(table.querySelectorAll('[data-testid="nbmlops-run-row"]'),
                                 row => row.querySelector('.nbmlops-run-name').textContent) : [],
        held: table ? table.dataset.held === 'true' : null,
        toolbar: tab ? tab.querySelector('.nbmlops-toolbar').textContent : '',
    };
}"""


def _listed_then_collapsed(browser: Any, lab: str, names: list[str]) -> tuple[Any, Any, list[str]]:
    """Runs ``names`` recorded, JupyterLab opened, the sidebar shown until it lists the
    last of them, then collapsed: its runs page is held for a Runs tab opened next."""
    import nbmlops
    from nbmlops import api

    for name in names:
        with nbmlops.track("held", name):
            nbmlops.log_metric("auc", 0.7)
    api.close()
    context, page, errors = open_page(browser, f"{lab}/lab?token={TOKEN}")
    page.wait_for_selector(f'.jp-SideBar [data-id="{PANEL_ID}"]')
    page.evaluate(f"() => window.jupyterapp.shell.activateById('{PANEL_ID}')")
    _run_row(page, names[-1]).wait_for()
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    return context, page, errors


@pytest.mark.timeout(240)
def test_runs_tab_drawn_at_once_then_current(browser: Any, lab: str, store_env: Path) -> None:
    """The Runs tab opened after the sidebar has shown the runs is drawn with the sidebar's
    rows at once (as the command returns, before any answer), saying it is refreshing; a
    run recorded meanwhile from a notebook shows in it as soon as its own request answers."""
    import nbmlops
    from nbmlops import api

    context, page, errors = _listed_then_collapsed(browser, lab, ["first", "second"])
    try:
        # the sidebar collapsed (it polls no more), then a run recorded behind its back
        with nbmlops.track("held", "third"):
            nbmlops.log_metric("auc", 0.8)
        api.close()

        drawn = page.evaluate(_OPEN_RUNS_AND_READ)
        assert sorted(drawn["rows"]) == ["first", "second"], drawn
        assert drawn["held"] is True
        assert "refreshing…" in drawn["toolbar"]

        tab = page.locator('.nbmlops-tab-content[data-kind="runs"]')
        tab.locator('[data-testid="nbmlops-run-row"]', has_text="third").wait_for(timeout=10_000)
        table = tab.locator('[data-testid="nbmlops-runs-table"]')
        assert table.get_attribute("data-held") is None
        assert sorted(tab.locator(".nbmlops-run-name").all_inner_texts()) == [
            "first", "second", "third"]
        assert "live" in tab.locator(".nbmlops-toolbar").inner_text()
        shot(page, "views-runs-tab-current")
        assert not errors, errors
    except Exception:
        shot(page, "views-failure-runs-held")
        raise
    finally:
        context.close()


@pytest.mark.timeout(240)
def test_runs_tab_drawn_held_then_its_request_fails(browser: Any, lab: str,
                                                    store_env: Path) -> None:
    """The Runs tab drawn with the held rows, whose own request then fails: the error is
    shown alone, not over the held rows (which were never confirmed current)."""
    context, page, errors = _listed_then_collapsed(browser, lab, ["only"])
    try:
        page.route("**/nbmlops/api/runs?**", lambda route: route.fulfill(
            status=503, content_type="application/json",
            body='{"error": "the store is busy: try again in a moment"}'))
        drawn = page.evaluate(_OPEN_RUNS_AND_READ)
        assert drawn["rows"] == ["only"], drawn
        assert drawn["held"] is True, drawn
        tab = page.locator('.nbmlops-tab-content[data-kind="runs"]')
        tab.get_by_test_id("nbmlops-error").wait_for(timeout=10_000)
        assert "the store is busy" in tab.get_by_test_id("nbmlops-error").inner_text()
        assert tab.locator('[data-testid="nbmlops-run-row"]').count() == 0
        shot(page, "views-runs-tab-held-error")
        assert not [e for e in errors if "503" not in e], errors
    except Exception:
        shot(page, "views-failure-runs-held-error")
        raise
    finally:
        context.close()
