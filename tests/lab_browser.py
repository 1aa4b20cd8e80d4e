"""What the browser tests share: Chromium (Playwright) and JupyterLab with this checkout's
panel, the themes, screenshots under ``build/screenshots/`` and the contrast a person sees.

The ``browser`` and ``lab`` fixtures live here; a test module imports them by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "screenshots"
TOKEN = "nbmlops-browser-test"
PANEL_ID = "nbmlops-panel"
TIMEOUT_MS = 30_000
# the themes JupyterLab 4 ships: its light and dark themes and its dark high-contrast one
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark",
          "high-contrast": "JupyterLab Dark High Contrast"}


def _chromium() -> str:
    """Debian's Chromium (installed by scripts/browser when missing), or skip saying why."""
    found = subprocess.run([str(ROOT / "scripts" / "browser")], capture_output=True,
                           text=True, timeout=600)
    if found.returncode != 0:
        pytest.skip(f"no Chromium for the browser test: {found.stderr.strip()}")
    return found.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        try:
            chromium = p.chromium.launch(
                executable_path=executable, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run",
                      "--disable-quic"])
        except Exception as exc:  # Playwright's own error types vary by version
            pytest.skip(f"Chromium ({executable}) does not start: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture
def lab(store_env: Path) -> Iterator[str]:
    """JupyterLab on a loopback port, rooted in a fresh folder, reading the test's store."""
    with lab_server(store_env) as url:
        yield url


@contextlib.contextmanager
def lab_server(store_env: Path, *options: str) -> Iterator[str]:
    """JupyterLab as the ``lab`` fixture starts it, with more server ``options``
    (``--ServerApp.…=…``); this checkout (and its tests/ modules) on its PYTHONPATH."""
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("JupyterLab is not installed (pip install -e '.[dev]')")
    root = store_env / "root"
    root.mkdir()
    jupyter = store_env / "jupyter"
    env = {**os.environ,
           "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
           "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
           "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                        str(ROOT)]))}
    built = ROOT / "src" / "nbmlops" / "labextension"
    if (built / "package.json").exists():  # this checkout's build, not an installed copy
        (jupyter / "data" / "labextensions").mkdir(parents=True)
        (jupyter / "data" / "labextensions" / "nbmlops").symlink_to(built)
        env["JUPYTER_PATH"] = os.pathsep.join(
            [str(jupyter / "data"), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    # no "official Jupyter news?" toast over the page
    (jupyter / "config" / "labconfig").mkdir(parents=True)
    (jupyter / "config" / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port = _free_port()
    log = (store_env / "lab.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *options],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(f"{url}/api/status",
                                                 headers={"Authorization": f"token {TOKEN}"})
                with urllib.request.urlopen(request, timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (
                        store_env / "lab.log").read_text(errors="replace")[-3000:]) from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()



SIDEBAR_TAB = f'.jp-SideBar [data-id="{PANEL_ID}"]'  # the panel's icon in the left sidebar


def open_page(browser: Any, url: str, width: int = 1440, height: int = 900, *,
              errors: list[str] | None = None,
              before: Callable[[Any], None] | None = None) -> tuple[Any, Any, list[str]]:
    """A fresh browser context at ``width``×``height`` with ``url`` loaded: (context, page,
    the page's uncaught errors as they come, into ``errors`` when given). ``before(page)``
    runs before the page loads (to listen to its requests). The caller closes the context."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    seen: list[str] = [] if errors is None else errors
    page.on("pageerror", lambda exc: seen.append(str(exc)))
    try:
        if before is not None:
            before(page)
        page.goto(url)
    except BaseException:
        context.close()
        raise
    return context, page, seen


def open_panel(browser: Any, url: str, theme: str | None = None, width: int = 1440,
               height: int = 900, *, errors: list[str] | None = None,
               before: Callable[[Any], None] | None = None) -> tuple[Any, Any, list[str]]:
    """``open_page``, then the MLOps panel opened from the left sidebar (at its default
    width), in ``theme`` (a key of THEMES) when given."""
    context, page, seen = open_page(browser, url, width, height, errors=errors, before=before)
    try:
        page.wait_for_selector(SIDEBAR_TAB)
        if theme is not None:
            set_theme(page, theme)
        page.click(SIDEBAR_TAB)
    except BaseException:
        context.close()
        raise
    return context, page, seen


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def widen_sidebar(page: Any, width: int = 640) -> None:
    """Drag the left sidebar's edge so the panel's tables fit (and show in screenshots)."""
    box = page.locator(f"#{PANEL_ID}").bounding_box()
    x, y = box["x"] + box["width"] + 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(box["x"] + width, y, steps=5)
    page.mouse.up()


def set_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab's theme (a key of THEMES or a theme's name) and wait until its
    colours apply (the layout colour changed), not a fixed time."""
    name = THEMES.get(theme, theme)
    # the first theme's colours can apply before JupyterLab names it on the body; asked for
    # then, a switch to that same theme does nothing and no colour would ever change
    page.wait_for_function("() => !!document.body.dataset.jpThemeName")
    if page.evaluate("() => document.body.dataset.jpThemeName") == name:
        return
    before = page.evaluate(_LAYOUT_COLOUR)
    page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', "
                  "{theme: t})", name)
    page.wait_for_function(
        f"([t, before]) => document.body.dataset.jpThemeName === t && ({_LAYOUT_COLOUR})() "
        "!== before", arg=[name, before])


_LAYOUT_COLOUR = ("() => getComputedStyle(document.body).getPropertyValue('--jp-layout-color1')"
                  ".trim()")


# each badge's (and lineage node's) text colour over its background, composited over the
# theme's layout colour, and the WCAG contrast ratio of the two
CONTRASTS = """() => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const base = getComputedStyle(document.body).getPropertyValue('--jp-layout-color1');
    const paint = layers => {
        ctx.clearRect(0, 0, 1, 1);
        for (const c of layers) { ctx.fillStyle = '#000'; ctx.fillStyle = c; ctx.fillRect(0, 0, 1, 1); }
        return Array.from(ctx.getImageData(0, 0, 1, 1).data.slice(0, 3));
    };
    const lum = rgb => {
        const [r, g, b] = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (fg, bg) => {
        const a = lum(paint([base, bg, fg])), b = lum(paint([base, bg]));
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    };
    const out = [];
    for (const el of document.querySelectorAll('.nbmlops-status, .nbmlops-badge')) {
        if (!el.getClientRects().length) continue;
        const s = getComputedStyle(el);
        out.push([el.textContent, ratio(s.color, s.backgroundColor)]);
    }
    for (const g of document.querySelectorAll('.nbmlops-node')) {
        const rect = g.querySelector('rect'), text = g.querySelector('.nbmlops-node-label');
        if (!rect || !text || !g.getClientRects().length) continue;
        out.push([text.textContent, ratio(getComputedStyle(text).fill, getComputedStyle(rect).fill)]);
    }
    return out;
}"""


def readable(page: Any, where: str) -> int:
    """Every badge and lineage node on the page reads at 4.5:1 or more; how many there are."""
    found = page.evaluate(f"({CONTRASTS})()")
    low = [(text, round(r, 2)) for text, r in found if r < 4.5]
    assert not low, f"{where}: text/background contrast below 4.5:1: {low}"
    return len(found)


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


def contrast(locator: Any) -> float:
    """The contrast of an element's text against the background behind it."""
    return float(locator.evaluate(CONTRAST))
