"""The MLOps panel on large stores, through Jupyter's server and in Chromium, against the
targets of issue 17: with 100,000 runs in the store (1,000,000 for the first page)

* the first page of runs ≤ 100 ms at 1,000,000 runs (the API, and in the browser the Runs
  tab opened until its first row shows);
* a run with 100,000 metric points charted ≤ 300 ms (the run's tab opened until its uPlot
  chart is drawn: the route's time and the rendering);
* Compare of 1,000 runs rendered ≤ 500 ms;
* every click of the walk (runs tab, a run, compare, models, a model version, deployments,
  jobs, drift, lineage) answered ≤ 200 ms at p95;

and the same reads from MLflow's tracking server where it has them (its search-runs API for
the first page, get-metric-history for the 100,000 points), as ratios.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/panel.py              # 100,000 + 1,000,000 runs
    .venv/bin/python bench/panel.py --quick      # 5,000 runs, 10,000 points: a smoke run
    .venv/bin/python bench/panel.py --skip-peer --skip-browser
    .venv/bin/python bench/panel.py --skip-peer --first-page-only   # the 1,000,000-run page

Sections:

1. The stores, cached under ``build/bench-panel/`` (keyed by size and schema head;
   ``--rebuild`` makes them again): a SQLite store made with the project's schema
   (``open_store(create=True)``), first the records the walk opens written through the
   API (a model ``churn`` with two versions and moved aliases, a deployment record, a drift
   check, a job run's record, a training run of ``--points`` loss values), then the runs
   (10 params, 10 metrics, 3 tags, the summary blob the store writes) in bulk SQL inserts
   (``executemany`` of 20,000 runs a transaction). MLflow's copy of the same runs is made
   the same way in MLflow's own schema (made by its migrations) and cached beside it.
2. For each store: JupyterLab (the server extension and the prebuilt panel) on loopback
   with a token, ``expose_app_in_browser`` so the walk can open tabs by the panel's own
   command. The API over one keep-alive connection (medians of ``--reps`` after untimed
   requests), then Chromium (Playwright, Debian's Chromium): every step timed inside the
   page (``performance.now()`` from the click or command until the step's content is on
   screen and a frame has been drawn), ``--walk-reps`` times, p95 and median. The sidebar
   is shown on a fresh page twice: as soon as its icon is there (JupyterLab still starting
   up in the same thread: a figure without a target) and once JupyterLab has restored its
   layout and sent no request for half a second (when a person's first click comes: the
   figure against the target).
3. MLflow's server (``mlflow server``, SQLite, from ``/work/venv-bench`` or
   ``--mlflow-python``) on the same runs: ``runs/search`` (first page of 50) and
   ``metrics/get-history`` of the 100,000-point metric, checked to answer the same.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
from _harness import (
    BenchContext,
    bench_parser,
    fmt_s,
    free_port,
    load_average,
    median,
    met_cell,
    parse_bench_args,
    print_table,
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
CACHE = ROOT / "build" / "bench-panel"
STORE_FORMAT = 1  # bump when what a cached store holds changes
HOST = "127.0.0.1"
TOKEN = "nbmlops-bench-panel"
EXPERIMENTS = 4
BATCH = 20_000  # runs per bulk transaction
START_TIMEOUT = 180.0
PAGE_TARGET, CHART_TARGET, COMPARE_TARGET, CLICK_TARGET = 0.100, 0.300, 0.500, 0.200
# what the run chart reads of a long metric in a 1440 px window: two points per pixel of its
# 900 px (the widest it is drawn)
CHART_POINTS = 1800
MLFLOW_PYTHON = "/work/venv-bench/bin/python"
TRAINING = "training"
MODEL = "churn"


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
        self.runs: int = args.runs or (5_000 if self.quick else 100_000)
        self.big: int = args.first_page_runs or (self.runs if self.quick else 1_000_000)
        self.points: int = args.points or (10_000 if self.quick else 100_000)
        self.compared: int = args.compared or (200 if self.quick else 1_000)
        self.reps: int = args.reps or (5 if self.quick else 20)
        self.walk_reps: int = args.walk_reps or (3 if self.quick else 10)
        self.rows: list[Row] = []
        self.peer: list[tuple[str, float, float | None]] = []  # measure, ours, MLflow's
        self.lab: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = root / "lab.log"
        self.store: Path = root  # the store folder JupyterLab reads now
        self.info: dict[str, Any] = {}
        self.ours: dict[str, float] = {}  # measures MLflow is compared on

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


# -- 1. the stores -------------------------------------------------------------------------

def store_folder(runs: int, points: int) -> Path:
    from nbmlops.store.sql.schema import HEAD

    return CACHE / f"runs-{runs}-points-{points}-schema-{HEAD}-v{STORE_FORMAT}"


def ensure_store(b: Bench, runs: int) -> Path:
    folder = store_folder(runs, b.points)
    if (folder / "done.json").exists() and not b.args.rebuild:
        say(f"    {runs:,} runs: cached in {folder.relative_to(ROOT)}")
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "project").mkdir(parents=True)
    t0 = time.perf_counter()
    env = {**os.environ, "NBMLOPS_STORE": str(folder / "lineage.db"),
           "NBMLOPS_ARTIFACTS": str(folder / "artifacts"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    made = subprocess.run([sys.executable, __file__, "--make-store", str(runs),
                           "--points", str(b.points), "--into", str(folder)],
                          cwd=folder / "project", env=env, capture_output=True, text=True)
    if made.returncode != 0:
        raise RuntimeError(f"making the store failed:\n{made.stdout[-2000:]}"
                           f"{made.stderr[-3000:]}")
    size = sum(f.stat().st_size for f in folder.glob("lineage.db*"))
    say(f"    {runs:,} runs: made in {fmt_s(time.perf_counter() - t0)} "
        f"({size / 2**20:,.0f} MiB)")
    for line in made.stdout.strip().splitlines():
        say(f"      {line}")
    return folder


def make_store(runs: int, points: int, folder: Path) -> None:
    """In a process of its own (its settings from the environment): the store's records."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops import api
    from nbmlops._types import Actor, Metric, NewDeployment, NewRun, RunEnd
    from nbmlops.store.sql import summary
    from nbmlops.store.sql.runs import encode_param

    t0 = time.perf_counter()
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"tenure": rng.normal(size=300), "spend": rng.normal(size=300)})
    y = (X["tenure"] > 0).astype(int)
    nbmlops.register(LogisticRegression().fit(X, y), name=MODEL, data=X, evaluate=(X, y))
    nbmlops.register(LogisticRegression(C=0.5).fit(X, y), name=MODEL)
    nbmlops.promote(MODEL, 1, "production")
    nbmlops.promote(MODEL, 1, "staging")
    nbmlops.promote(MODEL, 2, "staging")
    store = api.workspace("write").store
    store.start_deployment(NewDeployment(
        id=uuid.uuid4().hex, name="churn-api", model=MODEL, alias="production", version=1,
        url="http://127.0.0.1:1", workers=1, pid=os.getpid(), process_token="bench",
        user="bench", host="bench", started_at=time.time()), actor=Actor(user="bench",
                                                                          host="bench"))
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(
        "import nbmlops\nwith nbmlops.track('nightly', 'train'):\n"
        "    nbmlops.log_metric('acc', 0.5)\n"))
    source = folder / "project" / "train.ipynb"
    nbformat.write(nb, source)
    gated = nbmlops.export_job(source, job="nightly", folder=folder / "project" / "jobs"
                               / "nightly", gates=["metrics.acc >= 0.9"])
    nbmlops.run_job(gated.folder)  # fails its gate: a failed job with its reason
    moved = X.assign(tenure=X.tenure + 4, spend=X.spend * 30)
    drift = nbmlops.drift(f"{MODEL}@production", moved)
    now = time.time()
    long_run = uuid.uuid4().hex
    loss = tuple(Metric("loss", 1.0 / (1 + 0.01 * s) + 0.01 * math.sin(s), s, now + s * 0.01)
                 for s in range(points))
    store.record_runs([(
        NewRun(id=long_run, experiment=TRAINING, name="long training", kind="cell",
               start_time=now, user="bench", host="bench", params={"lr": 0.01}),
        RunEnd(status="finished", end_time=now + points * 0.01,
               metrics=(*loss, Metric("auc", 0.91, 0, now))))])
    print(f"records through the API (model, deployment, drift check, a failed job, a run of {points:,} "
          f"points): {time.perf_counter() - t0:.1f} s")
    api.close()

    t0 = time.perf_counter()
    db = sqlite3.connect(folder / "lineage.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    experiments = []
    for k in range(EXPERIMENTS):
        cur = db.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)",
                         (f"experiment-{k}", now))
        experiments.append(cur.lastrowid)
    gen = random.Random(0)
    first = now - runs * 60.0  # a run a minute, the last one now
    for at in range(0, runs, BATCH):
        run_rows, params, metrics, tags = [], [], [], []
        for i in range(at, min(runs, at + BATCH)):
            rid = f"{gen.getrandbits(128):032x}"
            start = first + i * 60.0
            p = {"model": ("logreg", "forest", "boosting")[i % 3],
                 "C": round(gen.uniform(0.01, 10), 4), "max_depth": gen.randint(2, 12),
                 "n_estimators": gen.choice((50, 100, 200, 400)),
                 "learning_rate": round(gen.uniform(0.001, 0.3), 5),
                 "subsample": round(gen.uniform(0.5, 1.0), 3),
                 "seed": i, "fold": i % 5, "scaler": ("standard", "minmax")[i % 2],
                 "balanced": bool(i % 2)}
            t = {"team": ("growth", "risk")[i % 2], "stage": ("dev", "prod")[i % 7 == 0],
                 "dataset": f"v{i % 4}"}
            m = {f"m{k}": gen.random() for k in range(10)}
            run_rows.append((rid, experiments[i % EXPERIMENTS], f"run-{i}", "cell",
                             "finished" if i % 50 else "failed", start,
                             start + gen.uniform(5, 60), start, "bench", "bench",
                             summary.encode(p, m, t)))
            params += [(rid, k, *encode_param(v)) for k, v in p.items()]
            metrics += [(rid, k, v, 0, 0, start + 30.0) for k, v in m.items()]
            tags += [(rid, k, v) for k, v in t.items()]
        with db:
            db.executemany("INSERT INTO runs (id, experiment_id, name, kind, status, "
                           "start_time, end_time, heartbeat_at, user, host, summary) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run_rows)
            db.executemany("INSERT INTO params (run_id, key, value, num_value) "
                           "VALUES (?, ?, ?, ?)", params)
            db.executemany("INSERT INTO metrics (run_id, key, value, is_nan, step, timestamp) "
                           "VALUES (?, ?, ?, ?, ?, ?)", metrics)
            db.executemany("INSERT INTO latest_metrics (run_id, key, value, is_nan, step, "
                           "timestamp) VALUES (?, ?, ?, ?, ?, ?)", metrics)
            db.executemany("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)", tags)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"{runs:,} runs in bulk SQL inserts: {time.perf_counter() - t0:.1f} s")
    (folder / "done.json").write_text(json.dumps(
        {"long_run": long_run, "drift": drift.run_id, "runs": runs, "points": points}))


MLFLOW_FILL = """
import json, sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
names = json.loads(sys.argv[2])
print(json.dumps({n: mlflow.create_experiment(n) for n in names}))
"""


def mlflow_python(b: Bench) -> str | None:
    python = b.args.mlflow_python or MLFLOW_PYTHON
    found = subprocess.run([python, "-c", "import mlflow"], capture_output=True)
    return python if found.returncode == 0 else None


def ensure_mlflow(b: Bench, folder: Path, python: str) -> Path:
    """MLflow's SQLite store (its schema made by its own migrations) holding the same runs,
    copied from ours in bulk SQL inserts; cached beside our store."""
    db = folder / "mlflow.db"
    done = folder / "mlflow.json"
    if done.exists() and not b.args.rebuild:
        return db
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    ours = sqlite3.connect(folder / "lineage.db")
    names = [n for (n,) in ours.execute("SELECT name FROM experiments ORDER BY id")]
    made = subprocess.run([python, "-c", MLFLOW_FILL, f"sqlite:///{db}", json.dumps(names)],
                          capture_output=True, text=True, cwd=folder)
    if made.returncode != 0:
        raise RuntimeError(f"MLflow did not make its store: {made.stderr[-2000:]}")
    experiments = json.loads(made.stdout.strip().splitlines()[-1])
    by_id = {i: int(experiments[n]) for i, n in ours.execute("SELECT id, name FROM experiments")}
    theirs = sqlite3.connect(db)
    theirs.execute("PRAGMA synchronous=OFF")
    artifacts = (folder / "mlflow-artifacts").as_uri()
    rows = ours.execute("SELECT id, experiment_id, name, status, start_time, end_time, user "
                        "FROM runs ORDER BY start_time")
    while chunk := rows.fetchmany(BATCH):
        ids = [r[0] for r in chunk]
        marks = ",".join("?" * len(ids))
        with theirs:
            theirs.executemany(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id) VALUES (?, ?, 'LOCAL', 'bench', '', ?, ?, ?, ?, "
                "'', 'active', ?, ?)",
                [(r[0], r[2], r[6], "FINISHED" if r[3] == "finished" else "FAILED",
                  int(r[4] * 1000), int(r[5] * 1000), f"{artifacts}/{r[0]}", by_id[r[1]])
                 for r in chunk])
            theirs.executemany(
                "INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?)",
                [(r, k, str(json.loads(v))) for r, k, v in ours.execute(
                    f"SELECT run_id, key, value FROM params WHERE run_id IN ({marks})", ids)])
            theirs.executemany(
                "INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?)",
                [*ours.execute(f"SELECT run_id, key, value FROM tags WHERE run_id IN ({marks})",
                               ids),
                 *((r[0], "mlflow.runName", r[2]) for r in chunk)])
            for table, source in (("metrics", "metrics"), ("latest_metrics", "latest_metrics")):
                theirs.executemany(
                    f"INSERT INTO {table} (run_uuid, key, value, step, timestamp, is_nan) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(r, k, 0.0 if v is None else v, s, int(t * 1000), n) for r, k, v, s, t, n
                     in ours.execute(f"SELECT run_id, key, value, step, timestamp, is_nan "
                                     f"FROM {source} WHERE run_id IN ({marks})", ids)])
    theirs.close()
    ours.close()
    done.write_text(json.dumps({"experiments": list(experiments.values())}))
    say(f"    MLflow's copy of {folder.name}: made in {fmt_s(time.perf_counter() - t0)}")
    return db


# -- 2. JupyterLab on a store ----------------------------------------------------------------

def start_lab(b: Bench, folder: Path) -> None:
    jupyter = b.root / f"jupyter-{folder.name}"
    config = jupyter / "config" / "labconfig"
    config.mkdir(parents=True, exist_ok=True)
    # no "official Jupyter news?" toast over the page
    (config / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
           "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
           "NBMLOPS_STORE": str(folder / "lineage.db"),
           "NBMLOPS_ARTIFACTS": str(folder / "artifacts"),
           # this checkout's nbmlops serves the routes, not the one installed in the venv
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                        os.environ.get("PYTHONPATH")]))}
    # and this checkout's build of the panel, not a copy installed in the venv (an older
    # build there once lacked the Deployments/Jobs/Drift tabs): as the browser tests do
    built = ROOT / "src" / "nbmlops" / "labextension"
    if (built / "package.json").exists():
        data = jupyter / "data" / "labextensions"
        data.mkdir(parents=True, exist_ok=True)
        link = data / "nbmlops"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(built)
        env["JUPYTER_PATH"] = os.pathsep.join(
            [str(jupyter / "data"), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    else:
        say("    no build of the panel in this checkout (src/nbmlops/labextension): "
            "JupyterLab serves whichever copy is installed")
    b.port = free_port(HOST)
    b.store = folder
    b.info = json.loads((folder / "done.json").read_text())
    t0 = time.perf_counter()
    with open(b.log, "ab") as out:
        b.lab = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             f"--ServerApp.ip={HOST}", f"--ServerApp.port={b.port}",
             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={b.project}",
             "--LabApp.expose_app_in_browser=True",
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
    say(f"    JupyterLab on {b.info['runs']:,} runs answered in "
        f"{fmt_s(time.perf_counter() - t0)}")


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


def get(b: Bench, path: str, conn: http.client.HTTPConnection | None = None
        ) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, b.port, timeout=120)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {TOKEN}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def api_path(route: str, **query: str | int) -> str:
    return f"/nbmlops/api/{route}" + (f"?{urllib.parse.urlencode(query)}" if query else "")


def timed_gets(b: Bench, path: str, reps: int) -> tuple[list[float], bytes]:
    """``reps`` timed requests after 2 untimed ones, on one keep-alive connection."""
    conn = http.client.HTTPConnection(HOST, b.port, timeout=120)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = b""
    try:
        for _ in range(2):
            status, body = get(b, path, conn)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            status, body = get(b, path, conn)
            times.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        return times, body
    finally:
        conn.close()


def spread_ids(b: Bench, n: int) -> list[str]:
    """``n`` run ids spread over the store's bulk runs."""
    db = sqlite3.connect(f"file:{b.store / 'lineage.db'}?mode=ro", uri=True)
    try:
        step = max(1, b.info["runs"] // n)
        ids = [r for (r,) in db.execute(
            "SELECT id FROM runs WHERE name LIKE 'run-%' AND "
            "CAST(substr(name, 5) AS INTEGER) % ? = 0 ORDER BY start_time LIMIT ?", (step, n))]
    finally:
        db.close()
    return ids


def api_case(b: Bench, label: str, path: str, target: float | None,
             check: Callable[[Any], str]) -> float:
    times, body = timed_gets(b, path, b.reps)
    shown = check(json.loads(body))
    say(f"    {label:<52} median {fmt_s(median(times)):>9}  worst {fmt_s(max(times)):>9}  "
        f"({len(body) / 1024:,.0f} KiB; {shown})")
    b.rows.append(Row(f"API: {label}", median(times), target))
    return median(times)


def first_page_check(runs: int) -> Callable[[Any], str]:
    def check(page: dict[str, Any]) -> str:
        if len(page["items"]) != 50 or page["total"] < runs:
            raise RuntimeError(f"expected 50 of {runs:,}+ runs, got {len(page['items'])} "
                               f"of {page['total']:,}")
        return f"50 of {page['total']:,}{'' if page['total_exact'] else '+'} runs"
    return check


# -- the walk in Chromium -----------------------------------------------------------------------

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


# Inside the page: close the panel's tabs (a fresh view each time), then do the step (a click
# on a selector, or the panel's open command) and wait until `done` is on screen; then one
# more frame, so what was laid out has been drawn. Milliseconds, or -1 after 30 s.
STEP_JS = """async ([how, what, done]) => {
  const app = window.jupyterapp;
  for (const w of Array.from(app.shell.widgets('main'))) {
    if (w.hasClass('nbmlops-tab-widget')) { w.close(); }
  }
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  await frame();
  const shown = () => {
    for (const e of document.querySelectorAll(done)) {
      const r = e.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) { return true; }
    }
    return false;
  };
  const t0 = performance.now();
  if (how === 'click') {
    document.querySelector(what).click();
  } else if (how === 'activate') {
    app.shell.activateById(what);
  } else {
    app.commands.execute('nbmlops:open', what);
  }
  while (!shown()) {
    if (performance.now() - t0 > 30000) { return -1; }
    await frame();
  }
  await frame();
  return performance.now() - t0;
}"""

PANEL_TAB = '.jp-SideBar [data-id="nbmlops-panel"]'


def tab(kind: str) -> str:
    return f'.nbmlops-tab-content[data-kind="{kind}"]'


def walk_steps(b: Bench, compared: list[str], plain_run: str) -> list[tuple[str, str, Any, str]]:
    """(label, how, what, done) of each step of the walk."""
    long_run = b.info["long_run"]
    return [
        ("runs tab", "open", {"kind": "runs", "args": {}},
         f'{tab("runs")} [data-testid="nbmlops-run-row"]'),
        ("a run", "open", {"kind": "run", "args": {"run": plain_run}},
         f'{tab("run")} [data-testid="nbmlops-run-metrics"]'),
        (f"a run with {b.points:,} points charted", "open",
         {"kind": "run", "args": {"run": long_run}},
         f'{tab("run")} [data-testid="nbmlops-history-chart"] canvas'),
        (f"compare of {len(compared):,} runs", "open",
         {"kind": "compare", "args": {"ids": ",".join(compared)}},
         f'{tab("compare")} [data-testid="nbmlops-compare-table"] tbody tr'),
        # the charts are drawn after the table's first paint: the last of them (the
        # param-vs-metric scatter) drawn too; the overlaid curves read a route of their own
        (f"compare of {len(compared):,} runs, charts drawn", "open",
         {"kind": "compare", "args": {"ids": ",".join(compared)}},
         f'{tab("compare")} [data-testid="nbmlops-compare-scatter"] canvas'),
        ("models (sidebar)", "click", '[data-testid="nbmlops-tab-models"]',
         '#nbmlops-panel [data-testid="nbmlops-model-row"], '
         '#nbmlops-panel [data-testid="nbmlops-model-details"]'),
        ("a model", "click", '[data-testid="nbmlops-model-row"]',
         '[data-testid="nbmlops-version-row"]'),
        ("a model version", "click", '[data-testid="nbmlops-version-open"]',
         '[data-testid="nbmlops-version-view"]'),
        ("deployments tab", "click", '[data-testid="nbmlops-open-deployments"]',
         f'{tab("deployments")} [data-testid="nbmlops-deployment-row"]'),
        ("jobs tab", "click", '[data-testid="nbmlops-open-jobs"]',
         f'{tab("jobs")} [data-testid="nbmlops-jobs-view"]'),
        ("drift tab", "click", '[data-testid="nbmlops-open-drift"]',
         f'{tab("drift")} [data-testid="nbmlops-drift-check-row"]'),
        ("lineage of the model version", "open",
         {"kind": "lineage", "args": {"kind": "model", "value": f"{MODEL}/1"}},
         f'{tab("lineage")} [data-testid="nbmlops-lineage-node"]'),
    ]


def p95(xs: list[float]) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def open_lab(b: Bench, chrome: Any) -> tuple[Any, Any, list[str]]:
    context = chrome.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{b.url}/lab?reset&token={TOKEN}")
    page.wait_for_selector(PANEL_TAB, state="visible")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    return context, page, errors


# JupyterLab's start-up settled, as before a person's first click: its layout restored and
# no request of its own sent for half a second (at most 10 s), then an idle moment
SETTLED_JS = """async () => {
  await window.jupyterapp.restored;
  const t0 = performance.now();
  const last = () => Math.max(0, ...performance.getEntriesByType('resource').map(e => e.startTime));
  while (performance.now() - last() < 500 && performance.now() - t0 < 10000) {
    await new Promise(r => setTimeout(r, 100));
  }
  await new Promise(r => requestIdleCallback(r, { timeout: 2000 }));
}"""


def browser_first_page(b: Bench, chrome: Any) -> None:
    """JupyterLab opened afresh, the sidebar's MLOps panel shown until its first run row
    (the panel reads runs when first shown): once as soon as its icon is there (JupyterLab
    still starting: its own requests and drawing share the page's one thread), and once
    JupyterLab's start-up has settled (as a person's first click comes); then the Runs tab
    opened until its first row."""
    at_once, settled, opened, errors = [], [], [], []
    shown = ["activate", "nbmlops-panel", '#nbmlops-panel [data-testid="nbmlops-run-row"]']
    for rep in range(b.walk_reps + 1):  # the first, untimed: the server's first page load
        for times, settle in ((at_once, False), (settled, True)):
            context, page, errs = open_lab(b, chrome)
            try:
                if settle:
                    page.evaluate(SETTLED_JS)
                times.append(page.evaluate(STEP_JS, shown))
                if settle and rep == b.walk_reps:
                    opened = [page.evaluate(STEP_JS, ["open", {"kind": "runs", "args": {}},
                                                      f'{tab("runs")} [data-testid="nbmlops-run-row"]'])
                              for _ in range(b.walk_reps + 1)]
            finally:
                context.close()
            errors += errs
    for label, times, target in (
            ("MLOps sidebar shown to first run row, at once", at_once[1:], None),
            ("MLOps sidebar shown to first run row", settled[1:], PAGE_TARGET),
            ("Runs tab opened to first run row", opened[1:], PAGE_TARGET)):
        if min(times) < 0:
            raise RuntimeError(f"{label}: nothing showed in 30 s (page errors: {errors})")
        secs = [t / 1000 for t in times]
        say(f"    {label:<52} median {fmt_s(median(secs)):>9}  p95 {fmt_s(p95(secs)):>9}")
        b.rows.append(Row(f"browser: {label} ({b.info['runs']:,} runs), p95", p95(secs),
                          target))
    if errors:
        say(f"    page errors: {errors[:3]}")


def browser_walk(b: Bench, chrome: Any) -> None:
    compared = spread_ids(b, b.compared)
    steps = [step for step in walk_steps(b, compared, compared[0])
             if not b.args.chart_only or "charted" in step[0]]
    context, page, errors = open_lab(b, chrome)
    times: dict[str, list[float]] = {label: [] for label, *_ in steps}
    failed: set[str] = set()
    try:
        page.evaluate("() => window.jupyterapp.shell.activateById('nbmlops-panel')")
        page.wait_for_selector('#nbmlops-panel [data-testid="nbmlops-run-row"]')
        for rep in range(b.walk_reps + 1):  # the first round warms up, untimed
            for label, how, what, done in steps:
                if label == "models (sidebar)":  # back to the runs section first
                    page.click('[data-testid="nbmlops-tab-runs"]')
                    page.wait_for_selector('#nbmlops-panel [data-testid="nbmlops-run-row"]')
                if label == "a model" and page.locator(  # back to the list of models
                        '[data-testid="nbmlops-model-details"]').count():
                    page.locator('[data-testid="nbmlops-model-details"] button',
                                 has_text="Models").click()
                    page.wait_for_selector('[data-testid="nbmlops-model-row"]')
                if label in failed:
                    continue
                if label.endswith(" tab") and how == "click":  # its sidebar section first
                    section = label.split()[0]
                    try:
                        page.click(f'[data-testid="nbmlops-tab-{section}"]', timeout=30_000)
                        page.wait_for_selector(f'[data-testid="nbmlops-open-{section}"]',
                                               timeout=30_000)
                    except Exception as exc:  # shown, the walk goes on
                        shot = CACHE / f"failed-{label.replace(' ', '-')}.png"
                        page.screenshot(path=str(shot))
                        say(f"    walk step {label!r}: its sidebar section did not open "
                            f"({str(exc).splitlines()[0]}; screenshot "
                            f"{shot.relative_to(ROOT)})")
                        failed.add(label)
                        continue
                ms = page.evaluate(STEP_JS, [how, what, done])
                if ms < 0:  # left out of the rest of the walk, shown for a look
                    shot = CACHE / f"failed-{label.replace(' ', '-')}.png"
                    page.screenshot(path=str(shot))
                    say(f"    walk step {label!r}: {done} did not show in 30 s (page errors: "
                        f"{errors[:3]}; screenshot {shot.relative_to(ROOT)})")
                    failed.add(label)
                elif rep:
                    times[label].append(ms / 1000)
    finally:
        context.close()
    every: list[float] = []
    for label, how, _, _ in steps:
        secs = times[label]
        if not secs:
            b.rows.append(Row(f"browser: {label}", None, note="did not show"))
            continue
        every += secs
        say(f"    {label:<52} median {fmt_s(median(secs)):>9}  p95 {fmt_s(p95(secs)):>9}  "
            f"({'click' if how == 'click' else 'open command'})")
        target = (CHART_TARGET if "charted" in label else
                  COMPARE_TARGET if label.startswith("compare") else CLICK_TARGET)
        b.rows.append(Row(f"browser: {label}, p95", p95(secs), target))
    if b.args.chart_only:
        return
    b.rows.append(Row("browser: every click of the walk but chart and compare, p95",
                      p95([t for label, *_ in steps for t in times[label]
                           if "charted" not in label and not label.startswith("compare")]
                          or [math.inf]),
                      CLICK_TARGET))
    if errors:
        say(f"    page errors: {errors[:3]}")


def with_chromium(b: Bench, fn: Callable[[Bench, Any], None]) -> None:
    if b.args.skip_browser:
        say("    browser: skipped (--skip-browser)")
        return
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        say("    browser: skipped, playwright is not installed (pip install -e '.[dev]')")
        return
    executable, why = chromium()
    if executable is None:
        say(f"    browser: skipped, no Chromium ({why})")
        return
    with browser(executable) as chrome:
        fn(b, chrome)


# -- sections -----------------------------------------------------------------------------------

def section_stores(b: Bench) -> None:
    say(f"[1] the stores (cached in {CACHE.relative_to(ROOT)})")
    for runs in sorted({b.big} if b.args.first_page_only else {b.runs, b.big}):
        ensure_store(b, runs)


def section_first_page(b: Bench) -> None:
    say(f"[2] the first page of runs at {b.big:,} runs")
    if b.args.chart_only:
        say("    skipped (--chart-only)")
        return
    start_lab(b, store_folder(b.big, b.points))
    try:
        b.ours["first page"] = api_case(b, f"first page of runs at {b.big:,}", api_path("runs"),
                                         PAGE_TARGET, first_page_check(b.big))
        for label, path in (("experiments (read with the first page)",
                             api_path("experiments", limit=500)),
                            ("metric keys (read with the first page)", api_path("metric-keys"))):
            api_case(b, label, path, PAGE_TARGET, lambda _: "answered")
        with_chromium(b, browser_first_page)
    finally:
        stop_lab(b)
    if b.big != b.runs:
        with mlflow_on(b, store_folder(b.big, b.points)) as on:
            if on is not None:
                peer_first_page(b, *on)


def section_walk(b: Bench) -> None:
    say(f"[3] the walk at {b.runs:,} runs")
    if b.args.first_page_only:
        say("    skipped (--first-page-only)")
        return
    start_lab(b, store_folder(b.runs, b.points))
    try:
        compared = spread_ids(b, b.compared)
        long_run = b.info["long_run"]
        if not b.args.chart_only:
            api_case(b, f"first page of runs at {b.runs:,}", api_path("runs"), PAGE_TARGET,
                     first_page_check(b.runs))

            for label, query in (("filtered + sorted page (metrics.m0 > 0.5, -metrics.m1)",
                                  {"where": "metrics.m0 > 0.5", "sort": "-metrics.m1"}),
                                 ("sorted page (-metrics.m1)", {"sort": "-metrics.m1"})):
                api_case(b, label, api_path("runs", **query), PAGE_TARGET,
                         lambda page: f"{len(page['items'])} runs")

        def history(page: dict[str, Any]) -> str:
            if len(page["items"]) != b.points:
                raise RuntimeError(f"expected {b.points:,} points, got {len(page['items']):,}")
            return f"{len(page['items']):,} points"

        if not b.args.chart_only:
            api_case(b, f"metric history of {b.points:,} points (list of points)",
                     api_path(f"runs/{long_run}/metric-history", key="loss"), None, history)

        def series(answer: dict[str, Any]) -> str:
            got = len(base64.b64decode(answer["values"])) // 8
            if got != b.points or answer["total"] != b.points:
                raise RuntimeError(f"expected {b.points:,} values, got {got:,}")
            return f"{got:,} values"

        b.ours["history"] = api_case(
            b, f"metric series of {b.points:,} points (all of them)",
            api_path(f"runs/{long_run}/metric-series", key="loss"), None, series)

        def decimated(answer: dict[str, Any]) -> str:
            got = len(base64.b64decode(answer["values"])) // 8
            if not answer["decimated"] or got > CHART_POINTS or answer["total"] != b.points:
                raise RuntimeError(f"expected at most {CHART_POINTS:,} of {b.points:,} "
                                   f"values, got {got:,} of {answer['total']:,}")
            return f"{got:,} of {answer['total']:,} values"

        api_case(b, f"metric series, {CHART_POINTS:,} of {b.points:,} points",
                 api_path(f"runs/{long_run}/metric-series", key="loss", points=CHART_POINTS),
                 None, decimated)

        def charts(answer: dict[str, Any]) -> str:
            loss = next(s for s in answer["items"] if s["key"] == "loss")
            return f"{len(answer['items'])} metrics; loss: {decimated(loss)}"

        api_case(b, f"metric charts, {CHART_POINTS:,} of {b.points:,} points (the chart's read)",
                 api_path(f"runs/{long_run}/metric-charts", points=CHART_POINTS),
                 CHART_TARGET, charts)
        if b.args.chart_only:
            with_chromium(b, browser_walk)
            return

        def compare(answer: dict[str, Any]) -> str:
            if [r["run_id"] for r in answer["runs"]] != compared:
                raise RuntimeError("compare did not answer the runs asked for, in order")
            return f"{len(answer['runs']):,} runs"

        api_case(b, f"compare of {len(compared):,} runs",
                 api_path("compare", ids=",".join(compared)), None, compare)
        for route in ("models", f"models/{MODEL}", "deployments", "jobs", "job-runs", "drift"):
            api_case(b, route, api_path(route), CLICK_TARGET, lambda _: "answered")
        api_case(b, "lineage of a model version", api_path("lineage", model=f"{MODEL}/1"),
                 CLICK_TARGET, lambda _: "answered")
        try:
            with_chromium(b, browser_walk)
        except Exception as exc:  # MLflow's figures still follow
            say(f"    the walk in Chromium failed: {exc}")
    finally:
        stop_lab(b)
    with mlflow_on(b, store_folder(b.runs, b.points)) as on:
        if on is not None:
            if b.big == b.runs:
                peer_first_page(b, *on)
            peer_history(b, *on)


# -- the peer: MLflow's tracking server ---------------------------------------------------------

def start_mlflow(b: Bench, python: str, db: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port(HOST)
    log = open(b.root / "mlflow-server.log", "ab")  # noqa: SIM115 - the server's lifetime
    server = subprocess.Popen(
        [python, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
         "--default-artifact-root", str(b.root / "mlflow-artifacts"), "--host", HOST,
         "--port", str(port), "--workers", "1"],
        cwd=b.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return server, port
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("the MLflow server did not start; see mlflow-server.log")
        time.sleep(0.3)


def mlflow_times(port: int, method: str, path: str, body: str | None, reps: int
                 ) -> tuple[list[float], Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        times, answer = [], None
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            times.append(time.perf_counter() - t0)
            if response.status != 200:
                raise RuntimeError(f"MLflow answered {response.status}: {raw[:300]!r}")
            answer = json.loads(raw)
        return times[1:], answer
    finally:
        conn.close()


@contextlib.contextmanager
def mlflow_on(b: Bench, folder: Path) -> Iterator[tuple[int, list[str]] | None]:
    if b.args.skip_peer:
        say("    MLflow: skipped (--skip-peer)")
        yield None
        return
    python = mlflow_python(b)
    if python is None:
        say(f"    MLflow: skipped, no mlflow in {b.args.mlflow_python or MLFLOW_PYTHON}")
        yield None
        return
    db = ensure_mlflow(b, folder, python)
    experiments = json.loads((folder / "mlflow.json").read_text())["experiments"]
    server, port = start_mlflow(b, python, db)
    try:
        yield port, [str(e) for e in experiments]
    finally:
        stop_group(server.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(5)


def peer_first_page(b: Bench, port: int, experiments: list[str]) -> None:
    reps = min(b.reps, 5)
    times, answer = mlflow_times(port, "POST", "/api/2.0/mlflow/runs/search", json.dumps(
        {"experiment_ids": experiments, "max_results": 50}), reps)
    say(f"    MLflow runs/search, first 50 of "
        f"{b.big:,}: median {fmt_s(median(times))} ({len(answer.get('runs', []))} runs)")
    b.peer.append((f"first page of runs at {b.big:,} (runs/search)", b.ours["first page"],
                   median(times)))


def peer_history(b: Bench, port: int, experiments: list[str]) -> None:
    reps = min(b.reps, 5)
    query = urllib.parse.urlencode({"run_id": b.info["long_run"], "metric_key": "loss"})
    times, answer = mlflow_times(port, "GET", f"/api/2.0/mlflow/metrics/get-history?{query}",
                                 None, reps)
    got = len(answer.get("metrics", []))
    say(f"    MLflow metrics/get-history of {b.points:,} points: median "
        f"{fmt_s(median(times))} ({got:,} points)")
    if got != b.points:
        raise RuntimeError(f"MLflow answered {got:,} points, not {b.points:,}")
    b.peer.append((f"metric history of {b.points:,} points (metrics/get-history)",
                   b.ours["history"], median(times)))


# -- main ---------------------------------------------------------------------------------------

SECTIONS: list[tuple[int, Callable[[Bench], None]]] = [
    (1, section_stores), (2, section_first_page), (3, section_walk)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser("The MLOps panel on stores of 100,000 and 1,000,000 runs.",
                          "5,000 runs, 10,000 points, a compare of 200: a smoke run")
    parser.add_argument("--runs", type=int, metavar="N",
                        help="runs in the walk's store (default 100,000; 5,000 with --quick)")
    parser.add_argument("--first-page-runs", type=int, metavar="N",
                        help="runs in the first page's store (default 1,000,000; --runs "
                             "with --quick)")
    parser.add_argument("--points", type=int, metavar="N",
                        help="values of the charted metric (default 100,000)")
    parser.add_argument("--compared", type=int, metavar="N",
                        help="runs compared (default 1,000; 200 with --quick)")
    parser.add_argument("--reps", type=int, metavar="N",
                        help="timed requests per API measure (default 20; 5 with --quick)")
    parser.add_argument("--walk-reps", type=int, metavar="N",
                        help="timed rounds of the browser walk (default 10; 3 with --quick)")
    parser.add_argument("--rebuild", action="store_true",
                        help="make the cached stores again")
    parser.add_argument("--mlflow-python", metavar="PATH",
                        help=f"a Python with mlflow installed (default {MLFLOW_PYTHON})")
    parser.add_argument("--skip-browser", action="store_true", help="no Chromium")
    parser.add_argument("--skip-peer", action="store_true", help="no MLflow server")
    parser.add_argument("--chart-only", action="store_true",
                        help="only the chart: its reads over HTTP and the run with --points "
                             "values opened in Chromium (no first page, no rest of the walk)")
    parser.add_argument("--first-page-only", action="store_true",
                        help="only the first page at --first-page-runs: its reads over HTTP "
                             "and the sidebar and the Runs tab opened in Chromium (no walk)")
    parser.add_argument("--make-store", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--into", type=Path, help=argparse.SUPPRESS)
    args = parse_bench_args(parser, argv)
    for name in ("runs", "first_page_runs", "points", "compared", "reps", "walk_reps"):
        value = getattr(args, name)
        if value is not None and value < 2:
            parser.error(f"--{name.replace('_', '-')} takes a number from 2")
    return args


def print_summary(b: Bench) -> None:
    print_table(("measure", "figure", "target", "met?"),
                [(f"{row.measure}" + (f" ({row.note})" if row.note else ""),
                  fmt_s(row.seconds), row.target_text(), met_cell(row.target_text(), row.met))
                 for row in b.rows],
                right={1}, targets=((row.target_text(), row.met) for row in b.rows),
                notes=[f"API figures: medians of {b.reps} requests; browser figures: p95 of "
                       f"{b.walk_reps} rounds timed inside the page; load average "
                       f"{load_average()}."])
    if b.peer:
        say()
        print_table(("the same read, over HTTP", "nbmlops", "MLflow server", "MLflow / nbmlops"),
                    [(label, fmt_s(ours), fmt_s(theirs),
                      "-" if theirs is None else f"{theirs / ours:,.1f}x")
                     for label, ours, theirs in b.peer],
                    right={1, 2, 3},
                    notes=["medians; MLflow's history is checked to hold every point; its first "
                           "page is not compared with nbmlops' run by run."])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.make_store is not None:
        make_store(args.make_store, args.points, args.into)
        return 0

    def body(b: Bench) -> int:
        say_header("nbmlops panel benchmark", b.quick, [
            ("JupyterLab", f"{version_of('jupyterlab')}  (jupyter_server "
                           f"{version_of('jupyter_server')})"),
            ("Playwright", version_of("playwright")),
        ], [
            ("stores", f"{b.runs:,} runs (the walk), {b.big:,} (the first page); "
                       f"{b.points:,} points; compare of {b.compared:,}"),
            temp_dir_field(b.root, b.args.keep),
        ])
        say()
        try:
            run = run_sections(SECTIONS, b, fatal={1})
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
