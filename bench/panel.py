"""The MLOps panel's reads on a large store: the REST API over HTTP, and the panel in a
browser, against the targets "with 100,000 runs in the store: the first page of the runs
list in ≤ 100 ms, a compare of 50 runs in ≤ 200 ms, the panel interactive ≤ 1.5 s after
opening".

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/panel.py              # 100,000 runs, about 21 minutes on 2 cores
    .venv/bin/python bench/panel.py --skip-peer  # without MLflow: about 6 minutes
    .venv/bin/python bench/panel.py --quick      # 20,000 runs, about 5 minutes
    .venv/bin/python bench/panel.py --runs 50000 --skip-browser

Sections (each prints its details; a summary table closes the run):

1. The store: ``--runs`` finished runs (100,000; 20,000 with ``--quick``) in 4
   experiments, each with 10 params, 10 metrics and 3 tags, written through the store's
   bulk API (``Store.record_runs``, 2,000 runs a transaction: what ``%%track`` writes for a
   run, without the tracking around it). Untimed against any target.
2. JupyterLab (``python -m jupyterlab``, the server extension and the prebuilt panel) on
   127.0.0.1 with a token, reading that store (``NBMLOPS_STORE``, ``NBMLOPS_ARTIFACTS``).
3. The API over HTTP: one keep-alive connection (``http.client``, the token in the
   ``Authorization`` header); each request is timed until its body is read (not decoded),
   medians of ``--reps`` after untimed warm-up requests: the first page of
   ``/nbmlops/api/runs`` (the default 50), a filtered and sorted page (``where=metrics.m0
   > 0.5``, ``sort=-metrics.m1``), a sorted page, a sorted page under a filter only 0.1%
   of runs pass (the slow path: the matches are found first, then sorted), a page deep in
   the list (offset half the runs), and ``/nbmlops/api/compare`` of 50 run ids spread over
   the store. Sorted pages are checked against the store's unpaged sort of every match.
4. The panel in Debian's Chromium driven by Playwright (what ``scripts/browser`` and
   ``tests/test_panel_browser.py`` use; skipped, saying why, when either is missing):
   JupyterLab opened at ``/lab?reset`` in a fresh browser context, then the MLOps tab
   clicked, timed until the first run row (``[data-testid="nbmlops-run-row"]``) is
   visible; also from opening JupyterLab's URL to that row. Medians of ``--opens``.
5. The peer a user would otherwise browse runs with: MLflow's tracking server (``mlflow
   server``, SQLite) holding the same runs (written into MLflow's own schema with SQL
   inserts, as its API would take an hour), the same reads through its REST API
   (``runs/search``), checked to answer the same runs; a table of ratios closes the run
   (``--skip-peer`` leaves it out).

Everything lives in a fresh temporary directory (deleted at the end unless ``--keep``).
Timings are wall-clock and indicative: the client, the server and the browser share the
machine's cores (the load average is printed at the top and the end).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
from _harness import (
    BenchContext,
    bench_parser,
    fmt_s,
    free_port,
    median,
    met_cell,
    mlflow_uri,
    open_mlflow,
    parse_bench_args,
    print_table,
    quiet,
    run_in_workspace,
    run_sections,
    say,
    say_header,
    say_summary,
    stop_group,
    temp_dir_field,
    version_of,
)

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
TOKEN = "nbmlops-bench-panel"
EXPERIMENTS = 4
BATCH = 2000  # runs per record_runs transaction
COMPARED = 50
START_TIMEOUT = 120.0
PAGE_TARGET, COMPARE_TARGET, PANEL_TARGET = 0.100, 0.200, 1.5
RUN_ROW = '[data-testid="nbmlops-run-row"]'
PANEL_TAB = '.jp-SideBar [data-id="nbmlops-panel"]'


@dataclass
class Row:
    """One line of the summary table."""

    measure: str
    seconds: float | None
    target: float | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or self.seconds is None:
            return None
        return self.seconds <= self.target

    def target_text(self) -> str:
        return "-" if self.target is None else f"<= {fmt_s(self.target)}"


class Bench(BenchContext):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        super().__init__(args, root)
        self.runs: int = args.runs or (20_000 if self.quick else 100_000)
        self.reps: int = args.reps or (10 if self.quick else 20)
        self.opens: int = args.opens or (3 if self.quick else 5)
        self.ids: list[str] = []
        self.written: list[tuple[Any, Any]] = []  # (NewRun, RunEnd): MLflow gets the same
        self.api: dict[str, tuple[float, list[str]]] = {}  # measure: (median, run ids)
        self.peer: list[tuple[str, float, float | None]] = []  # measure, ours, MLflow's
        self.rows: list[Row] = []
        self.lab: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = root / "lab.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


# -- 1. the store ----------------------------------------------------------------------------

def build_store(b: Bench) -> None:
    from nbmlops._types import Metric, NewRun, RunEnd
    from nbmlops.api import current_settings
    from nbmlops.config import sqlite_path
    from nbmlops.store import open_store

    say(f"[1] writing {b.runs:,} finished runs (10 params, 10 metrics, 3 tags each; "
        f"{EXPERIMENTS} experiments) through Store.record_runs, {BATCH:,} a transaction")
    store = open_store(current_settings().store_url, create=True)
    rng = random.Random(0)
    first = time.time() - b.runs * 60.0  # a run a minute, the last one now
    t0 = time.perf_counter()
    try:
        batch: list[tuple[Any, Any]] = []
        for i in range(b.runs):
            start = first + i * 60.0
            new = NewRun(
                id=uuid.uuid4().hex, experiment=f"experiment-{i % EXPERIMENTS}",
                name=f"run-{i}", kind="cell", start_time=start, user="bench", host="bench",
                params={"model": ("logreg", "forest", "boosting")[i % 3],
                        "C": round(rng.uniform(0.01, 10), 4), "max_depth": rng.randint(2, 12),
                        "n_estimators": rng.choice((50, 100, 200, 400)),
                        "learning_rate": round(rng.uniform(0.001, 0.3), 5),
                        "subsample": round(rng.uniform(0.5, 1.0), 3),
                        "seed": i, "fold": i % 5, "scaler": ("standard", "minmax")[i % 2],
                        "balanced": bool(i % 2)},
                tags={"team": ("growth", "risk")[i % 2], "stage": ("dev", "prod")[i % 7 == 0],
                      "dataset": f"v{i % 4}"})
            metrics = tuple(Metric(f"m{k}", rng.random(), 0, start + 30.0) for k in range(10))
            batch.append((new, RunEnd(status="finished" if i % 50 else "failed",
                                      end_time=start + rng.uniform(5, 60), metrics=metrics)))
            b.ids.append(new.id)
            b.written.append((new, batch[-1][1]))
            if len(batch) == BATCH or i == b.runs - 1:
                store.record_runs(batch)
                batch = []
                done = i + 1
                if done % (BATCH * 10) == 0 or done == b.runs:
                    elapsed = time.perf_counter() - t0
                    say(f"    {done:>9,} runs in {fmt_s(elapsed)} "
                        f"({fmt_s(elapsed / done)} per run)")
    finally:
        store.close()
    db = sqlite_path(current_settings().store_url)
    if db is not None:
        size = sum(f.stat().st_size for f in db.parent.glob(f"{db.name}*"))
        say(f"    store: {size / 2**20:,.0f} MiB ({db.name} and its WAL)")


# -- 2. JupyterLab -------------------------------------------------------------------------

def start_lab(b: Bench) -> None:
    say("[2] starting JupyterLab with the nbmlops server extension on loopback")
    jupyter = b.root / "jupyter"
    config = jupyter / "config" / "labconfig"
    config.mkdir(parents=True)
    # no "official Jupyter news?" toast over the page
    (config / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
           "JUPYTER_CONFIG_DIR": str(jupyter / "config")}
    b.port = free_port(HOST)
    t0 = time.perf_counter()
    with open(b.log, "wb") as out:
        b.lab = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             f"--ServerApp.ip={HOST}", f"--ServerApp.port={b.port}",
             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={b.project}",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=b.project, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            status, _ = get(b, "/api/status")
            if status == 200:
                break
        except OSError:
            pass
        if b.lab.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"JupyterLab did not start; its log ends with:\n"
                               f"{textwrap.indent(log_tail(b), '  ')}")
        time.sleep(0.2)
    say(f"    {b.url} answered in {fmt_s(time.perf_counter() - t0)} (JupyterLab "
        f"{version_of('jupyterlab')}, jupyter_server {version_of('jupyter_server')})")


def log_tail(b: Bench, lines: int = 20) -> str:
    try:
        return "\n".join(b.log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_lab(b: Bench) -> None:
    if b.lab is None or b.lab.poll() is not None:
        return
    b.lab.terminate()
    try:
        b.lab.wait(15)
    except subprocess.TimeoutExpired:
        b.lab.kill()
        b.lab.wait(5)


# -- 3. the API over HTTP ----------------------------------------------------------------------

def get(b: Bench, path: str, conn: http.client.HTTPConnection | None = None
        ) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, b.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {TOKEN}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def api_path(route: str, **query: str | int) -> str:
    return f"/nbmlops/api/{route}" + (f"?{urllib.parse.urlencode(query)}" if query else "")


def timed_gets(b: Bench, conn: http.client.HTTPConnection, path: str) -> tuple[list[float],
                                                                               bytes]:
    """``b.reps`` timed requests after 3 untimed ones; the last answer."""
    body = b""
    for _ in range(3):
        status, body = get(b, path, conn)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    times = []
    for _ in range(b.reps):
        t0 = time.perf_counter()
        status, body = get(b, path, conn)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    return times, body


def bench_api(b: Bench) -> None:
    say(f"[3] the API over HTTP, one keep-alive connection (median of {b.reps} after 3 "
        f"untimed requests)")
    step = max(1, len(b.ids) // COMPARED)
    compared = b.ids[::step][:COMPARED]
    cases: list[tuple[str, str, float | None, Callable[[dict[str, Any]], str]]] = [
        ("first page of runs (limit 50)", api_path("runs"), PAGE_TARGET, page_check(b, 50)),
        ("filtered + sorted page (metrics.m0 > 0.5, -metrics.m1)",
         api_path("runs", where="metrics.m0 > 0.5", sort="-metrics.m1"), PAGE_TARGET,
         sorted_check("metrics.m0 > 0.5")),
        ("sorted page (-metrics.m1)", api_path("runs", sort="-metrics.m1"), PAGE_TARGET,
         sorted_check(None)),
        ("sparse filter, sorted (metrics.m0 > 0.999, -metrics.m1)",
         api_path("runs", where="metrics.m0 > 0.999", sort="-metrics.m1"), None,
         sorted_check("metrics.m0 > 0.999")),
        (f"page at offset {b.runs // 2:,}", api_path("runs", offset=b.runs // 2), None,
         page_check(b, 50)),
        (f"compare of {COMPARED} runs", api_path("compare", ids=",".join(compared)),
         COMPARE_TARGET, compare_check(compared)),
    ]
    conn = http.client.HTTPConnection(HOST, b.port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for label, path, target, check in cases:
            times, body = timed_gets(b, conn, path)
            shown = check(json.loads(body))
            say(f"    {label:<56} median {fmt_s(median(times)):>9}  best "
                f"{fmt_s(min(times)):>9}  worst {fmt_s(max(times)):>9}  "
                f"({len(body) / 1024:,.0f} KiB; {shown})")
            b.rows.append(Row(label, median(times), target))
            answer = json.loads(body)
            b.api[label] = (median(times), [r["run_id"] for r in
                                            answer.get("items", answer.get("runs", []))])
    finally:
        conn.close()


def page_check(b: Bench, limit: int) -> Callable[[dict[str, Any]], str]:
    def check(page: dict[str, Any]) -> str:
        if page["total"] != b.runs or len(page["items"]) != limit:
            raise RuntimeError(f"expected {limit} of {b.runs:,} runs, got "
                               f"{len(page['items'])} of {page['total']:,}")
        return f"{len(page['items'])} of {page['total']:,} runs"
    return check


def sorted_check(where: str | None) -> Callable[[dict[str, Any]], str]:
    """The page must be the first 50 runs of the whole filtered sort, read here (untimed)
    through the store's unpaged search, which sorts every match."""
    from nbmlops import api
    from nbmlops.tracking.search import search

    whole = search(api.workspace("read").store, where=where, sort="-metrics.m1",
                   kinds=api.LISTED_KINDS)

    def check(page: dict[str, Any]) -> str:
        if [r["run_id"] for r in page["items"]] != [r[0] for r in whole.rows[:50]]:
            raise RuntimeError(f"the page is not the first 50 of where={where!r}, "
                               f"sorted by -metrics.m1")
        counted = f"{page['total']:,}" + ("" if page["total_exact"] else "+")
        return f"{len(page['items'])} of {counted} matching runs (exactly {whole.total:,})"
    return check


def compare_check(ids: list[str]) -> Callable[[dict[str, Any]], str]:
    def check(answer: dict[str, Any]) -> str:
        if [r["run_id"] for r in answer["runs"]] != ids:
            raise RuntimeError("compare did not answer the runs asked for, in order")
        return (f"{len(answer['runs'])} runs, {len(answer['params'])} params and "
                f"{len(answer['metrics'])} metrics")
    return check


# -- 4. the panel in a browser ---------------------------------------------------------------

def chromium() -> tuple[str | None, str]:
    """Debian's Chromium (``scripts/browser`` finds or installs it), or why there is none."""
    found = subprocess.run([str(ROOT / "scripts" / "browser")], capture_output=True,
                           text=True, timeout=600)
    if found.returncode != 0:
        return None, found.stderr.strip() or "scripts/browser failed"
    return found.stdout.strip().splitlines()[-1], ""


@contextlib.contextmanager
def browser(executable: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=executable, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic"])
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Open:
    """One opening of the panel."""

    lab: float  # opening JupyterLab's URL to the MLOps tab shown
    panel: float  # clicking the tab to the first run row visible
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.lab + self.panel


def open_panel(b: Bench, chrome: Any) -> Open:
    context = chrome.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        t0 = time.perf_counter()
        page.goto(f"{b.url}/lab?reset&token={TOKEN}")  # reset: no panel left open
        page.wait_for_selector(PANEL_TAB, state="visible")
        t1 = time.perf_counter()
        page.click(PANEL_TAB)
        page.wait_for_selector(RUN_ROW, state="visible")
        t2 = time.perf_counter()
        return Open(lab=t1 - t0, panel=t2 - t1, errors=errors)
    finally:
        context.close()


def bench_browser(b: Bench) -> None:
    say(f"[4] the panel in Chromium (Playwright): JupyterLab opened, then the MLOps tab "
        f"clicked until the first run row shows (median of {b.opens} after one untimed)")
    if b.args.skip_browser:
        say("    skipped (--skip-browser)")
        return
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        say("    skipped: playwright is not installed (pip install -e '.[dev]')")
        return
    executable, why = chromium()
    if executable is None:
        say(f"    skipped: no Chromium ({why})")
        return
    with browser(executable) as chrome:
        open_panel(b, chrome)  # warm-up: the server's first page load, Chromium's caches
        opens = []
        for i in range(b.opens):
            opened = open_panel(b, chrome)
            opens.append(opened)
            say(f"    open {i + 1}: JupyterLab {fmt_s(opened.lab):>9}, tab to first run "
                f"row {fmt_s(opened.panel):>9}, in all {fmt_s(opened.total):>9}")
            if opened.errors:
                say(f"    page errors: {opened.errors}")
    b.rows.append(Row("panel: MLOps tab clicked to first run row",
                      median([o.panel for o in opens]), PANEL_TARGET))
    b.rows.append(Row("JupyterLab URL opened to first run row",
                      median([o.total for o in opens]), None,
                      note="JupyterLab's own load included"))


# -- 5. the peer: MLflow's tracking server -----------------------------------------------------

PEER_REPS = 5
PEER_SLOW_S = 10.0  # an answer slower than this is timed once more, not PEER_REPS times
PEER_TIMEOUT_S = 300.0  # MLflow's filtered and sorted search of 100,000 runs took > 10 min
MLFLOW_TABLES = ("runs", "params", "metrics", "latest_metrics", "tags")


def fill_mlflow(b: Bench) -> list[str]:
    """The same runs in MLflow's own schema (made by MLflow's migrations), written with
    SQL inserts: its API takes milliseconds a run, an hour for 100,000. Returns the
    experiment ids."""
    import sqlalchemy as sa

    mlflow = open_mlflow(b.root)
    with quiet():
        experiments = [mlflow.create_experiment(f"experiment-{i}") for i in range(EXPERIMENTS)]
    engine = sa.create_engine(mlflow_uri(b.root))
    meta = sa.MetaData()
    meta.reflect(engine, only=MLFLOW_TABLES)
    t = meta.tables
    artifacts = (b.root / "mlflow" / "artifacts").as_uri()
    for at in range(0, len(b.written), BATCH):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in MLFLOW_TABLES}
        for new, end in b.written[at:at + BATCH]:
            run = new.id
            rows["runs"].append({
                "run_uuid": run, "name": new.name, "source_type": "LOCAL",
                "source_name": "bench", "entry_point_name": "", "user_id": new.user,
                "status": "FINISHED" if end.status == "finished" else "FAILED",
                "start_time": int(new.start_time * 1000),
                "end_time": int(end.end_time * 1000), "source_version": "",
                "lifecycle_stage": "active", "artifact_uri": f"{artifacts}/{run}",
                "experiment_id": int(experiments[int(new.experiment.rsplit("-", 1)[1])])})
            rows["params"] += [{"run_uuid": run, "key": k, "value": str(v)}
                               for k, v in new.params.items()]
            rows["tags"] += [{"run_uuid": run, "key": k, "value": str(v)} for k, v in
                             {**new.tags, "mlflow.runName": new.name,
                              "mlflow.user": new.user}.items()]
            for m in end.metrics:
                row = {"run_uuid": run, "key": m.key, "value": m.value, "step": m.step,
                       "timestamp": int(m.timestamp * 1000), "is_nan": False}
                rows["metrics"].append(row)
                rows["latest_metrics"].append(row)
        with engine.begin() as conn:
            for name in MLFLOW_TABLES:
                conn.execute(t[name].insert(), rows[name])
    engine.dispose()
    return [str(e) for e in experiments]


def start_mlflow(b: Bench) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port(HOST)
    log = open(b.root / "mlflow-server.log", "wb")  # noqa: SIM115 - the server's lifetime
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", mlflow_uri(b.root),
         "--default-artifact-root", str(b.root / "mlflow" / "artifacts"), "--host", HOST,
         "--port", str(port), "--workers", "1"],
        cwd=b.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                # one search, untimed: the server's first loads its modules
                conn = http.client.HTTPConnection(HOST, port, timeout=START_TIMEOUT)
                conn.request("POST", "/api/2.0/mlflow/runs/search",
                             body=json.dumps({"max_results": 1, "experiment_ids": ["0"]}),
                             headers={"Content-Type": "application/json"})
                conn.getresponse().read()
                return server, port
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("the MLflow server did not start; see mlflow-server.log")
        time.sleep(0.3)


def stop_mlflow(server: subprocess.Popen[bytes]) -> None:
    """Stop ``mlflow server`` and the uvicorn process it starts (its own process group)."""
    stop_group(server.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(5)


def time_search(port: int, body: str, reps: int) -> tuple[list[float], bytes]:
    """Timed searches after an untimed one (one timed when that took over PEER_SLOW_S);
    TimeoutError when an answer takes over PEER_TIMEOUT_S."""
    conn = http.client.HTTPConnection(HOST, port, timeout=PEER_TIMEOUT_S)
    try:
        times: list[float] = []
        wanted, answer = 1 + reps, b""
        while len(times) < wanted:
            t1 = time.perf_counter()
            conn.request("POST", "/api/2.0/mlflow/runs/search", body=body,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = response.read()
            times.append(time.perf_counter() - t1)
            if response.status != 200:
                raise RuntimeError(f"MLflow answered {response.status}: {answer[:300]!r}")
            if times[0] > PEER_SLOW_S:
                wanted = 2  # answers of a minute: the untimed one and one timed
        return times[1:], answer
    finally:
        conn.close()


def bench_mlflow(b: Bench) -> None:
    reps = min(b.reps, PEER_REPS)  # its slow answers take seconds each
    say(f"[5] the peer: the same {b.runs:,} runs in MLflow {version_of('mlflow')}'s tracking "
        f"server (SQLite), the same reads through its REST API (median of {reps} after one "
        f"untimed; one, when the untimed took over {PEER_SLOW_S:.0f} s; given up after "
        f"{PEER_TIMEOUT_S:.0f} s)")
    if b.args.skip_peer:
        say("    skipped (--skip-peer)")
        return
    t0 = time.perf_counter()
    experiments = fill_mlflow(b)
    say(f"    filled MLflow's tables in {fmt_s(time.perf_counter() - t0)} (SQL inserts)")
    compared = b.api.get(f"compare of {COMPARED} runs", (0.0, []))[1]
    cases = [
        ("first page of runs (limit 50)", {}),
        ("filtered + sorted page (metrics.m0 > 0.5, -metrics.m1)",
         {"filter": "metrics.m0 > 0.5", "order_by": ["metrics.m1 DESC"]}),
        ("sorted page (-metrics.m1)", {"order_by": ["metrics.m1 DESC"]}),
        ("sparse filter, sorted (metrics.m0 > 0.999, -metrics.m1)",
         {"filter": "metrics.m0 > 0.999", "order_by": ["metrics.m1 DESC"]}),
        (f"compare of {COMPARED} runs",
         {"filter": "attributes.run_id IN ({})".format(
             ", ".join(f"'{run}'" for run in compared))}),
    ]
    server, port = start_mlflow(b)
    try:
        for label, query in cases:
            if label not in b.api:
                continue
            ours, our_ids = b.api[label]
            body = json.dumps({"experiment_ids": experiments, "max_results": 50, **query})
            try:
                times, answer = time_search(port, body, reps)
            except TimeoutError:
                say(f"    {label:<56} no answer in {PEER_TIMEOUT_S:.0f} s  nbmlops "
                    f"{fmt_s(ours):>9}  (the server is restarted for the next read)")
                b.peer.append((label, ours, None))
                stop_mlflow(server)
                server, port = start_mlflow(b)
                continue
            ids = [r["info"]["run_id"] for r in json.loads(answer).get("runs", [])]
            same = (sorted(ids) == sorted(our_ids) if label.startswith("compare")
                    else ids == our_ids)
            say(f"    {label:<56} median {fmt_s(median(times)):>9}  nbmlops "
                f"{fmt_s(ours):>9}  ({len(times)} timed, {len(ids)} runs, "
                f"{'the same as' if same else 'NOT the same as'} nbmlops')")
            if not same:
                raise RuntimeError(f"MLflow and nbmlops answered different runs for {label}")
            b.peer.append((label, ours, median(times)))
    finally:
        stop_mlflow(server)


# -- main ---------------------------------------------------------------------------------------

SECTIONS: list[tuple[int, Callable[[Bench], None]]] = [
    (1, build_store), (2, start_lab), (3, bench_api), (4, bench_browser),
    (5, bench_mlflow)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser("The MLOps panel's API and UI on a store of 100,000 runs.",
                          "20,000 runs instead of 100,000, fewer repetitions")
    parser.add_argument("--runs", type=int, metavar="N",
                        help="runs in the store (default 100,000; 20,000 with --quick)")
    parser.add_argument("--reps", type=int, metavar="N",
                        help="timed requests per API measure (default 20; 10 with --quick)")
    parser.add_argument("--opens", type=int, metavar="N",
                        help="timed openings of the panel (default 5; 3 with --quick)")
    parser.add_argument("--skip-browser", action="store_true",
                        help="leave out section 4 (the panel in Chromium)")
    parser.add_argument("--skip-peer", action="store_true",
                        help="leave out section 5 (the same reads from MLflow's server)")
    args = parse_bench_args(parser, argv)
    for name in ("runs", "reps", "opens"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} takes a positive number")
    if args.runs is not None and args.runs < COMPARED:
        parser.error(f"--runs takes a number from {COMPARED}")
    return args


def print_summary(b: Bench) -> None:
    print_table(("measure", "figure", "target", "met?"),
                [(f"{row.measure}" + (f" ({row.note})" if row.note else ""),
                  fmt_s(row.seconds), row.target_text(), met_cell(row.target_text(), row.met))
                 for row in b.rows],
                right={1}, targets=((row.target_text(), row.met) for row in b.rows),
                notes=[f"over {b.runs:,} runs; API figures are medians of {b.reps} requests, "
                       f"the panel's of {b.opens} openings."])
    if b.peer:
        say()
        print_table(("the same read, over HTTP", "nbmlops", "MLflow server", "MLflow / nbmlops"),
                    [(label, fmt_s(ours),
                      f"> {fmt_s(PEER_TIMEOUT_S)}" if theirs is None else fmt_s(theirs),
                      f"> {PEER_TIMEOUT_S / ours:,.0f}x" if theirs is None
                      else f"{theirs / ours:,.1f}x")
                     for label, ours, theirs in b.peer],
                    right={1, 2, 3},
                    notes=["MLflow: POST /api/2.0/mlflow/runs/search (max_results 50; the "
                           "compare as one search of run_id IN (...)); wherever MLflow answered, both "
                           "answered the same runs."])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body(b: Bench) -> int:
        say_header("nbmlops panel benchmark", b.quick, [
            ("JupyterLab", f"{version_of('jupyterlab')}  (jupyter_server "
                           f"{version_of('jupyter_server')}, SQLAlchemy "
                           f"{version_of('sqlalchemy')})"),
            ("Playwright", version_of("playwright")),
        ], [
            ("store", f"{b.runs:,} runs, SQLite"),
            temp_dir_field(b.root, b.args.keep),
        ])
        say()
        try:
            run = run_sections(SECTIONS, b, fatal={1, 2})
        finally:
            stop_lab(b)
        if run.stopped:
            say("    JupyterLab's log ends with:")
            say(textwrap.indent(log_tail(b), "    "))
        say_summary(b.quick, run.started)
        print_summary(b)
        return run.status

    return run_in_workspace("nbmlops-bench-panel-", lambda root: Bench(args, root), body,
                            keep=args.keep, env={"PYTHONWARNINGS": "ignore"},
                            on_exit=lambda b: None if b is None else stop_lab(b))


if __name__ == "__main__":
    sys.exit(main())
