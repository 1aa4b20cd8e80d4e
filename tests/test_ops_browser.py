"""The Deployments, Jobs and Drift-and-monitors tabs in a real browser (JupyterLab +
Chromium, as test_panel_browser.py) on a store with real operations records
(tests/ops_store.py), read as a person reads them at 1440×900 with the sidebar at its
default 250 px, in the light, the dark and the dark high-contrast theme. Screenshots go to ``build/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab_browser import (  # noqa: F401  (browser and lab are fixtures)
    PANEL_ID,
    TOKEN,
    browser,
    lab,
    open_panel,
    readable,
    set_theme,
    shot,
)


@pytest.fixture
def ops_lab(lab: str, store_env: Path) -> Iterator[dict[str, Any]]:
    from tests.ops_store import make_ops, stop_ops

    try:  # the job that finishes is exported under the notebook server's root
        yield {"lab": lab, **make_ops(store_env, store_env / "root" / "jobs")}
    finally:
        stop_ops()


_FITS = """() => {
    const panel = document.getElementById('nbmlops-panel');
    return [...panel.querySelectorAll('table')].every(
        t => t.getBoundingClientRect().right <= panel.getBoundingClientRect().right + 1);
}"""


def _open(page: Any, section: str, theme: str | None = None) -> Any:
    """From the sidebar (250 px), open a section's main-area tab; the tab's content. With
    ``theme``, first check the sidebar's own table fits and screenshot it."""
    page.click(f'[data-testid="nbmlops-tab-{section}"]')
    if theme is not None:
        page.locator(f'[data-testid="nbmlops-section-{section}"] tbody tr').first.wait_for()
        shot(page, f"ops-sidebar-{section}-{theme}")
        assert page.evaluate(f"({_FITS})()"), f"the sidebar's {section} table is clipped"
    page.click(f'[data-testid="nbmlops-open-{section}"]')
    view = page.locator(f'.nbmlops-tab-content[data-kind="{section}"]:visible')
    view.wait_for()
    return view


@pytest.mark.timeout(600)
def test_operations_tabs(browser: Any, ops_lab: dict[str, Any]) -> None:
    served = ops_lab["served"]
    context, page, errors = open_panel(browser, f"{ops_lab['lab']}/lab?token={TOKEN}")
    try:
        width = page.locator(f"#{PANEL_ID}").bounding_box()["width"]
        assert 240 <= width <= 260  # the sidebar's default width
        for theme in ("light", "dark", "high-contrast"):
            set_theme(page, theme)

            # -- Deployments: one deployment with its restart, links, live traffic, log
            view = _open(page, "deployments", theme)
            rows = view.locator('[data-testid="nbmlops-deployment-row"]')
            rows.first.wait_for()
            assert rows.count() == 1  # restarted under its name: still one deployment
            assert "churn-api" in rows.first.inner_text()
            assert rows.first.locator("td").nth(4).inner_text() == "1"  # restarts
            link = view.locator('[data-testid="nbmlops-deployment-url"]')
            assert link.get_attribute("href") == served.url
            assert link.inner_text() == served.url
            docs = view.locator('[data-testid="nbmlops-deployment-docs"]')
            assert docs.get_attribute("href") == served.url.rstrip("/") + "/docs"
            requests = view.locator('[data-testid="nbmlops-traffic-requests"]')
            requests.wait_for()
            assert requests.locator(".nbmlops-stat-value").inner_text() == "3"
            assert view.locator('[data-testid="nbmlops-traffic-errors"] .nbmlops-stat-value'
                                ).inner_text() == "1 (1 4xx, 0 5xx)"
            assert view.locator('[data-testid="nbmlops-traffic-rows"] .nbmlops-stat-value'
                                ).inner_text() == "200"
            assert "≤" in view.locator('[data-testid="nbmlops-traffic-p99"]').inner_text()
            history = view.locator('[data-testid="nbmlops-deployment-history-row"]')
            assert [r.locator(".nbmlops-status").inner_text() for r in history.all()] == [
                "running", "stopped"]
            logs = view.locator('[data-testid="nbmlops-deployment-logs"]')
            logs.wait_for()
            assert logs.inner_text().strip()
            assert view.locator('[data-testid="nbmlops-stop-deployment"]').is_visible()
            assert readable(page, f"deployments ({theme})") >= 4
            shot(page, f"ops-deployments-{theme}")
            # its lineage: one node for the deployment, its restart named on it
            view.locator('[data-testid="nbmlops-deployment-detail"] a',
                         has_text="lineage").click()
            nodes = page.locator('.nbmlops-tab-content[data-kind="lineage"]:visible '
                                 '[data-testid="nbmlops-lineage-node"]'
                                 '[data-node-id^="deployment:"]')
            nodes.first.wait_for()
            assert nodes.count() == 1
            assert nodes.first.locator(".nbmlops-node-type").text_content() == \
                "deployment · 1 restart"
            assert readable(page, f"lineage ({theme})") >= 3
            shot(page, f"ops-lineage-{theme}")

            # -- Jobs: both jobs, wherever exported; why the failed one failed; links
            view = _open(page, "jobs", theme)
            sidebar_jobs = page.locator('[data-testid="nbmlops-job-row"]')
            assert [r.locator("td").first.inner_text() for r in sidebar_jobs.all()] == [
                "nightly", "train"]  # every job that ran, wherever it was exported
            nightly = view.locator('[data-testid="nbmlops-job"][data-job="nightly"]')
            nightly.wait_for()
            train = view.locator('[data-testid="nbmlops-job"][data-job="train"]')
            assert "elsewhere/nightly" in nightly.inner_text()  # outside <project>/jobs
            assert nightly.locator('[data-testid="nbmlops-job-why"]').inner_text() == \
                "gate not met: metrics.acc >= 0.9"
            assert nightly.locator(".nbmlops-status").first.inner_text() == "failed"
            assert train.locator(".nbmlops-status").first.inner_text() == "finished"
            # the executed notebook: in the project, opened; outside it, downloadable
            assert nightly.locator('[data-testid="nbmlops-download-executed"]').count() == 1
            assert train.locator('[data-testid="nbmlops-download-executed"]').count() == 0
            run_link = nightly.locator('[data-testid="nbmlops-job-run-link"]')
            assert run_link.inner_text() == ops_lab["failed_job"][:8]
            assert readable(page, f"jobs ({theme})") >= 3
            shot(page, f"ops-jobs-{theme}")
            if theme == "light":
                with page.expect_download() as got:
                    nightly.locator('[data-testid="nbmlops-download-executed"]').click()
                assert got.value.suggested_filename == "executed.ipynb"
                train.locator('[data-testid="nbmlops-open-executed"]').click()
                page.locator(".jp-NotebookPanel:visible").first.wait_for()
                assert page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current"
                                    ).inner_text().endswith(".ipynb")
                run_link = view.locator('[data-testid="nbmlops-job"][data-job="nightly"] '
                                        '[data-testid="nbmlops-job-run-link"]')
                page.click('[data-testid="nbmlops-tab-jobs"]')
                page.click('[data-testid="nbmlops-open-jobs"]')
                run_link.click()
                page.locator('.nbmlops-tab-content[data-kind="run"]:visible').wait_for()

            # -- Drift and monitors: the check's tests, its plots, the monitor's checks
            view = _open(page, "drift", theme)
            detail = view.locator('[data-testid="nbmlops-drift-detail"]')
            detail.wait_for()
            assert view.locator('[data-testid="nbmlops-drift-check-row"]').count() == 2
            headers = detail.locator("thead th").all_inner_texts()
            assert headers == ["Column", "Test", "Statistic", "p-value", "Distance",
                               "Threshold", "Drifted"]
            columns = detail.locator('[data-testid="nbmlops-drift-column-row"]')
            first = columns.first.locator("td").all_inner_texts()
            assert first[-1] == "drifted"  # drifted columns first
            tests = {r.locator("td").nth(1).inner_text() for r in columns.all()}
            assert tests & {"Kolmogorov–Smirnov", "chi-squared", "Wasserstein distance",
                            "population stability index", "Jensen–Shannon distance"}
            assert "Data drifted" in detail.locator(
                '[data-testid="nbmlops-drift-verdict"]').inner_text()
            frame = detail.locator('[data-testid="nbmlops-artifact-frame"]')
            frame.wait_for()
            assert frame.get_attribute("sandbox") == "allow-scripts"
            monitor = view.locator('[data-testid="nbmlops-monitor-row"]')
            monitor.first.wait_for()
            assert monitor.count() == 1
            cells = monitor.first.locator("td").all_inner_texts()
            assert cells[0] == "churn-watch"
            assert cells[2] == "alert"
            assert cells[3].startswith("#1")
            assert "data drift" in cells[4]
            assert cells[5] == "200"
            drift_run = ops_lab["monitor"].drift_run
            monitor.first.locator('[data-testid="nbmlops-monitor-drift"]').click()
            page.wait_for_function(
                "id => [...document.querySelectorAll('[data-testid=nbmlops-drift-detail] a')]"
                ".some(a => a.textContent === 'run ' + id)", arg=drift_run[:8])
            assert readable(page, f"drift ({theme})") >= 1  # the monitor check's status
            shot(page, f"ops-drift-{theme}")

        # -- stop, with a confirm dialog
        view = _open(page, "deployments")
        view.locator('[data-testid="nbmlops-stop-deployment"]').click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        assert "Stop deployment churn-api?" in dialog.inner_text()
        dialog.locator("button.jp-mod-warn").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=nbmlops-deployment-detail] "
            "h3 .nbmlops-status')].some(b => b.textContent === 'stopped')",
            timeout=30_000)
        page.wait_for_function(  # the traffic box says why there is none, at its next poll
            "() => (document.querySelector('[data-testid=nbmlops-traffic]') || {})"
            ".textContent?.includes('is stopped')", timeout=15_000)
        shot(page, "ops-deployments-stopped-high-contrast")
        assert not errors, errors
    finally:
        context.close()


# what of a sidebar section is wider than the sidebar: the body or the panel scrolling
# sideways (scrollWidth > clientWidth), or any element running past the panel's right edge
_OVERFLOW = """() => {
    const panel = document.getElementById('nbmlops-panel');
    const body = panel.querySelector('.nbmlops-body');
    const right = panel.getBoundingClientRect().right + 1;
    const out = [];
    for (const el of [panel, body]) {
        if (el.scrollWidth > el.clientWidth) {
            out.push(`${el.className} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
        }
    }
    for (const el of body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > right) {
            out.push(`${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(r.right)}`);
        }
    }
    return out.slice(0, 8);
}"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_sidebar_fits_250px(browser: Any, ops_lab: dict[str, Any], theme: str) -> None:
    """At JupyterLab's default sidebar width no section scrolls sideways or is clipped:
    runs, models (a model picked: its versions, aliases, history), deployments, jobs, drift."""
    context, page, errors = open_panel(browser, f"{ops_lab['lab']}/lab?token={TOKEN}", theme)
    try:
        assert 240 <= page.locator(f"#{PANEL_ID}").bounding_box()["width"] <= 260
        for section in ("runs", "models", "deployments", "jobs", "drift"):
            page.click(f'[data-testid="nbmlops-tab-{section}"]')
            body = page.locator(f'[data-testid="nbmlops-section-{section}"]')
            body.locator("tbody tr").first.wait_for()
            if section == "models":
                page.click('[data-testid="nbmlops-model-row"] >> text=churn')
                page.locator('[data-testid="nbmlops-version-row"]').first.wait_for()
                page.locator('[data-testid="nbmlops-history-row"]').first.wait_for()
                page.locator('[data-testid="nbmlops-version-status"]', has_text="live").wait_for()
            shot(page, f"sidebar-250-{section}-{theme}")
            over = page.evaluate(f"({_OVERFLOW})()")
            assert not over, f"{section} ({theme}) is wider than the 250 px sidebar: {over}"
        # a version opens in its tab: created, promote and lineage have room there
        page.click('[data-testid="nbmlops-tab-models"]')
        page.locator('[data-testid="nbmlops-version-open"][data-version="1"]').click()
        tab = page.locator('.nbmlops-tab-content[data-kind="model-version"]:visible')
        tab.locator('[data-testid="nbmlops-promote-button"]').wait_for()
        # (the deployments are read beside the model: "looking…" until they answer)
        served = tab.locator('[data-testid="nbmlops-version-served"]')
        served.locator(".nbmlops-link", has_text="churn-api").wait_for()
        assert "no live deployment" not in served.inner_text()
        assert tab.locator('[data-testid="nbmlops-version-created"]').inner_text()
        tab.locator('[data-testid="nbmlops-version-view"][data-version="1"]').wait_for()
        shot(page, f"sidebar-250-model-version-{theme}")
        assert not page.evaluate(f"({_OVERFLOW})()")
        assert not errors, errors
    except Exception:
        shot(page, f"sidebar-250-failure-{theme}")
        raise
    finally:
        context.close()
