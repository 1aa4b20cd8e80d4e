"""The panel's views in a real browser (JupyterLab + Chromium, as test_panel_browser.py):
Compare of several runs, read as a person reads it, at 1440×900 in the light and the dark
theme. Screenshots go to ``build/screenshots/``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_panel_browser import (  # noqa: F401  (browser and lab are fixtures)
    PANEL_ID,
    TIMEOUT_MS,
    TOKEN,
    _run_row,
    _shot,
    _widen_sidebar,
    browser,
    lab,
)

AUCS = {"alpha": 0.77, "beta": 0.74, "gamma": 0.76, "delta": 0.75}
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


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


def _theme(page: Any, name: str) -> None:
    page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', "
                  "{theme: t})", THEMES[name])
    page.wait_for_function(
        "t => document.body.dataset.jpThemeName === t", arg=THEMES[name])


@pytest.mark.timeout(240)
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_compare_view(browser: Any, lab: str, compared: dict[str, str],  # noqa: F811
                      theme: str) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{lab}/lab?token={TOKEN}")
        page.wait_for_selector(f'.jp-SideBar [data-id="{PANEL_ID}"]')
        _theme(page, theme)
        page.click(f'.jp-SideBar [data-id="{PANEL_ID}"]')
        page.wait_for_selector('[data-testid="nbmlops-runs-table"]')
        _widen_sidebar(page, 900)
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

        # readable in this theme: the table's text against its background
        for cell in ('tr[data-key="metrics.auc"] td', 'tr[data-key="metrics.auc"] th',
                     'tr[data-key="params.seed"] td[data-missing="true"]'):
            contrast = table.locator(cell).first.evaluate(CONTRAST)
            assert contrast >= 4.5, (cell, contrast)
        page.locator('[data-testid="nbmlops-differences-only"]').check()
        page.locator('[data-testid="nbmlops-compare"]').scroll_into_view_if_needed()
        _shot(page, f"views-compare-{theme}")
        page.select_option('[data-testid="nbmlops-chart-metric"]', "loss")
        curves.locator("canvas").wait_for()
        curves.scroll_into_view_if_needed()
        _shot(page, f"views-compare-charts-{theme}")
        assert not errors, errors
        print(f"compare of 4 runs shown in {shown_ms:.0f} ms ({theme})")
    except Exception:
        _shot(page, f"views-failure-{theme}")
        raise
    finally:
        context.close()


# the WCAG contrast ratio of an element's text colour against the first opaque
# background colour behind it
CONTRAST = """el => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const rgb = s => {  // any CSS colour (rgb(), color(srgb ...), ...) as [r, g, b, a]
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = s;
        ctx.fillRect(0, 0, 1, 1);
        const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
        return [r, g, b, a / 255];
    };
    const lum = c => {
        const [r, g, b] = c.slice(0, 3).map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const fg = rgb(getComputedStyle(el).color);
    let node = el, bg = null;
    while (node && !bg) {
        const c = rgb(getComputedStyle(node).backgroundColor);
        if (c[3] > 0.5) { bg = c; }
        node = node.parentElement;
    }
    const back = bg || [255, 255, 255, 1];
    const seen = fg.slice(0, 3).map((v, i) => v * fg[3] + back[i] * (1 - fg[3]));
    const [a, b] = [lum(seen), lum(back)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
}"""


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
def test_models_view(browser: Any, lab: str, models: dict[str, Any],  # noqa: F811
                     theme: str) -> None:
    import nbmlops
    from nbmlops import api

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{lab}/lab?token={TOKEN}")
        page.wait_for_selector(f'.jp-SideBar [data-id="{PANEL_ID}"]')
        _theme(page, theme)
        page.click(f'.jp-SideBar [data-id="{PANEL_ID}"]')
        page.wait_for_selector('[data-testid="nbmlops-runs-table"], .nbmlops-muted')
        _widen_sidebar(page, 900)
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
        page.locator('[data-testid="nbmlops-version-open"]', has_text="1").click()
        view = page.locator('[data-testid="nbmlops-version-view"][data-version="1"]')
        view.wait_for()
        signature = view.locator('[data-testid="nbmlops-signature-row"]').all_inner_texts()
        assert any("tenure" in r for r in signature)
        assert any(r.startswith("out") for r in signature)
        frame = view.locator('[data-testid="nbmlops-model-card"]')
        assert frame.get_attribute("sandbox") == ""
        card = page.frame_locator('[data-testid="nbmlops-model-card"]')
        card.locator("text=model card").first.wait_for()
        _shot(page, f"views-model-{theme}")

        # the promote dialog names the deployment that follows the alias
        button = page.locator('[data-testid="nbmlops-version-row"]', has=page.locator(
            '[data-version="2"]')).locator('[data-testid="nbmlops-promote-button"]')
        button.scroll_into_view_if_needed()
        button.click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        said = dialog.locator('[data-testid="nbmlops-promote-followers"]').inner_text()
        assert said.startswith("Live deployment following @production: churn-api")
        dialog.locator('[data-testid="nbmlops-promote-alias"]').fill("canary")
        assert dialog.locator('[data-testid="nbmlops-promote-followers"]').inner_text() == \
            "No live deployment follows @canary."
        _shot(page, f"views-promote-dialog-{theme}")
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
        badge = production.locator(".nbmlops-badge").evaluate(CONTRAST)
        assert badge >= 4.5, badge
        assert not errors, errors
    except Exception:
        _shot(page, f"views-failure-models-{theme}")
        raise
    finally:
        context.close()
