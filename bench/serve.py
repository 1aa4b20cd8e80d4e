"""What serving costs: nbmlops' model server side by side with MLflow's scoring server.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/serve.py              # full run, about 3 minutes on 2 cores
    .venv/bin/python bench/serve.py --quick      # fewer rounds, about 1.5 minutes
    .venv/bin/python bench/serve.py --rounds 15  # more rounds
    .venv/bin/python bench/serve.py --quick --no-rollout  # without the canary and shadow
    .venv/bin/python bench/serve.py --quick --rounds 2 --requests 60  # under 2 minutes

The model, the same for both: ``LogisticRegression(max_iter=1000)`` fitted on 75% of
``make_classification(5000, 20, random_state=0)`` as a DataFrame with named columns
(``f0`` ... ``f19``); the other 25% (1,250 rows) are what the client sends. Both tools
store it in skops' format with its signature from the training data, registered as
``churn`` with the alias ``production`` (MLflow's ``log_model`` is given its pip
requirements rather than inferring them: the server runs in this environment), and serve
``churn@production``:

* nbmlops: ``python -m nbmlops.serving churn@production --workers 1`` (what ``nbmlops
  serve`` runs), with its prediction log on, as it is by default: every request's rows
  are kept and written to Parquet by a background thread;
* the same with ``--no-log`` (a third server, for the cost of the log);
* (unless ``--no-rollout``) two more nbmlops servers of ``churn@production`` (prediction log on):
  one with ``--canary candidate --share 0.1`` and one with ``--shadow candidate`` scored in
  the worker's thread (``NBMLOPS_SHADOW_PROCESS=0``; ``--shadow-process`` adds one scored in a
  process of its own, the default on 2 CPUs or more), where
  ``churn@candidate`` is the same model registered again as version 2 (so every server's
  predictions still equal the model's; the challenger's cost is real: it is another
  loaded version, scored, counted and logged);
* MLflow: ``mlflow models serve -m models:/churn@production --env-manager local
  --workers 1`` (MLflow's default is one worker too).

All three are uvicorn servers (uvloop and httptools) with one worker process, on
127.0.0.1, each started in a process group of its own and stopped at the end. One client
serves all: ``http.client`` keep-alive connections, the same pre-encoded JSON body for
every server (MLflow's ``{"dataframe_split": {"columns": [...], "data": [[...]]}}``,
which nbmlops accepts too) posted to ``/predict`` or ``/invocations``; a request is timed
until the whole response body is read (it is not decoded while timed).

Sections (each prints its details; a summary table closes the run):

1. Starting: from launching the command to the first ``/health`` answer (one sample each,
   started one after the other, so indicative only).
2. Single-row requests, one after the other on one connection: requests/s (and its ratio
   to MLflow's, target at least 5), p50 (target at most 2 ms) and p99 latency, and the
   server's CPU time per request (which stays meaningful when other
   work loads the machine); the rows cycle through the 1,250 held-out rows.
3. Single-row requests from 4 connections at once (one thread each): requests/s, what one
   worker sustains when requests queue. In sections 2 and 3 a canary's and a shadow's
   requests/s are set against the same server alone (target: at most 10% fewer).
4. 1,000-row requests: median latency.
5. Checks, not timed: every server's predictions of the 1,250 held-out rows (in one
   request, and the first 100 one row at a time) equal the model's ``predict``; after the
   servers stopped, nbmlops' prediction log holds every row sent to the logged server.

Sections 2-4 run in rounds after an untimed warm-up: in every round each server takes its
turn (the order reversed every other round, so drift in machine load hits all alike), and
every figure is the median over rounds of that round's figure (requests/s, p50, p99, ...).
The stores (nbmlops' SQLite store and artifacts, MLflow's ``sqlite:///`` backend and
artifact root), the servers' logs and Python's temporary files live in a fresh temporary
directory, which is also the working directory; it is deleted at the end unless
``--keep`` is given. Timings are wall-clock and indicative: the client and the server
share the machine's cores with each other and with any other work (the load average is
printed at the top and the end).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
from _harness import (
    MLFLOW_QUIET_ENV,
    BenchContext,
    alternate,
    bench_parser,
    fmt_s,
    free_port,
    load_average,
    median,
    met_cell,
    mlflow_uri,
    parse_bench_args,
    print_table,
    quiet,
    run_in_workspace,
    run_sections,
    say,
    say_header,
    say_summary,
    silence_loggers,
    temp_dir_field,
    version_of,
)

N_SAMPLES, N_FEATURES = 5000, 20
MODEL, ALIAS = "churn", "production"
BIG = 1000  # rows of the large request
CONNECTIONS = 4  # section 3
START_TIMEOUT = 180.0
HOST = "127.0.0.1"


def percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q))


def fmt_rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:,.0f}/s"


# -- the servers ---------------------------------------------------------------------------

def group_cpu_seconds(pgid: int) -> float | None:
    """User + system CPU time of the live processes in a process group (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, found = 0, False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if int(fields[2]) != pgid:  # fields: state ppid pgrp ... utime(11) stime(12)
            continue
        total += int(fields[11]) + int(fields[12])
        found = True
    return total / tick if found else None


@dataclass
class Server:
    """One server process group, and the client's connections to it."""

    key: str
    label: str
    command: list[str]
    path: str  # where predictions are posted
    port: int
    log: Path
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    started_in: float | None = None
    rows_sent: int = 0  # every row posted, warm-up included (checked against the log)
    latencies: list[float] = field(default_factory=list)  # section 2's, all rounds
    conns: list[http.client.HTTPConnection] = field(default_factory=list)

    def start(self) -> None:
        t0 = time.perf_counter()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with status {self.proc.returncode} "
                                   f"before answering; its log ends with:\n"
                                   f"{textwrap.indent(self.log_tail(), '  ')}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/health")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} did not answer /health within "
                                   f"{START_TIMEOUT:.0f} s; its log ends with:\n"
                                   f"{textwrap.indent(self.log_tail(), '  ')}")
            time.sleep(0.05)
        self.started_in = time.perf_counter() - t0

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def cpu(self) -> float | None:
        return None if self.proc is None else group_cpu_seconds(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the process group (a clean stop: nbmlops flushes its prediction log),
        SIGKILL if it is still there after ``timeout``."""
        for conn in self.conns:
            conn.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"    WARNING: {self.label} did not stop within {timeout:.0f} s; killed")
        # whatever is left of the group (the uvicorn child of MLflow's CLI)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    # -- the client --------------------------------------------------------------------------
    def connections(self, n: int) -> list[http.client.HTTPConnection]:
        """``n`` freshly opened keep-alive connections (uvicorn closes idle ones after 5 s,
        so every timed batch starts on new ones), each used once untimed."""
        for conn in self.conns:
            conn.close()
        self.conns = [http.client.HTTPConnection(HOST, self.port, timeout=120)
                      for _ in range(n)]
        for conn in self.conns:
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.conns

    def post(self, conn: http.client.HTTPConnection, body: bytes, rows: int) -> bytes:
        conn.request("POST", self.path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        self.rows_sent += rows
        if response.status != 200:
            raise RuntimeError(f"{self.label} answered {response.status}: {data[:300]!r}")
        return data


# -- the benchmark context ----------------------------------------------------------------

@dataclass
class Row:
    """One line of the summary table: seconds (smaller is better) or a rate (larger is)."""

    measure: str
    nb: float | str | None  # a text is shown as is ("identical")
    ml: float | str | None
    rate: bool = False
    target: str = "-"
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        """How many times faster nbmlops is (above 1: nbmlops is faster)."""
        if not isinstance(self.nb, float) or not isinstance(self.ml, float) \
                or min(self.nb, self.ml) <= 0:
            return None
        return self.nb / self.ml if self.rate else self.ml / self.nb

    def cell(self, value: float | str | None) -> str:
        if isinstance(value, str):
            return value
        return fmt_rate(value) if self.rate else fmt_s(value)


def print_summary(rows: list[Row]) -> None:
    print_table(("measure", "nbmlops", "MLflow", "ratio", "target", "met?"),
                [(row.measure, row.cell(row.nb), row.cell(row.ml),
                  "-" if row.ratio is None else f"{row.ratio:,.2f}x", row.target,
                  met_cell(row.target, row.met)) for row in rows],
                right={1, 2, 3}, targets=((row.target, row.met) for row in rows),
                notes=["ratio = how many times faster nbmlops is (MLflow / nbmlops for times, "
                       "nbmlops / MLflow for requests/s; above 1: nbmlops is faster, below 1: "
                       "MLflow is)."])


class Bench(BenchContext):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        import pandas as pd
        from sklearn.datasets import make_classification
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split

        super().__init__(args, root)
        self.rounds: int = args.rounds or (4 if self.quick else 10)
        self.single: int = args.requests or (100 if self.quick else 200)  # per server, round
        self.concurrent = max(1, round(self.single / 8))  # per connection and round
        self.warm: int = 50 if self.quick else 150  # untimed single-row requests per server
        self.big: int = 5 if self.quick else 10  # 1,000-row requests per server and round
        self.rows: list[Row] = []
        self.extra_rows: list[Row] = []  # nbmlops --no-log, at the end of the table
        self.rollout_rows: list[Row] = []  # canary and shadow vs nbmlops alone
        X, y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES,
                                   random_state=0)
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            frame, y, test_size=0.25, random_state=0)
        t0 = time.perf_counter()
        self.model = LogisticRegression(max_iter=1000).fit(self.X_train, self.y_train)
        self.fit_seconds = time.perf_counter() - t0
        self.expected = self.model.predict(self.X_test)
        columns = list(self.X_test.columns)
        values = self.X_test.to_numpy().tolist()
        # the same bytes go to every server: one body per held-out row, and two large ones
        self.single_bodies = [split_body(columns, [row]) for row in values]
        self.big_bodies = [split_body(columns, values[:BIG]),
                           split_body(columns, values[-BIG:])]
        self.all_body = split_body(columns, values)
        self.servers: dict[str, Server] = {}

    # -- the servers' environment ------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)  # MLflow runs `uvicorn` from PATH
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env.pop("PYTHONWARNINGS", None)
        return env

    def logs(self) -> Path:
        folder = self.root / "logs"
        folder.mkdir(exist_ok=True)
        return folder

    @property
    def mlflow_uri(self) -> str:
        return mlflow_uri(self.root)

    @property
    def nb_log_dir(self) -> Path:
        return self.root / "nbmlops" / "predictions"


def split_body(columns: list[str], rows: list[list[float]]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}},
                      separators=(",", ":")).encode()


# -- 1. registering and starting -------------------------------------------------------------

def register_both(b: Bench) -> None:
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    import nbmlops

    t0 = time.perf_counter()
    version = nbmlops.register(b.model, name=MODEL, data=b.X_train, alias=ALIAS)
    if b.args.rollout:  # the challenger: the same model as another version
        nbmlops.register(b.model, name=MODEL, data=b.X_train, alias="candidate")
    t1 = time.perf_counter()
    (b.root / "mlflow").mkdir()
    silence_loggers()
    with quiet():
        mlflow.set_tracking_uri(b.mlflow_uri)
        location = (b.root / "mlflow" / "artifacts").as_uri()
        experiment = mlflow.create_experiment("bench-serve", artifact_location=location)
        mlflow.set_experiment(experiment_id=experiment)
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                b.model, name="model",
                signature=infer_signature(b.X_train, b.model.predict(b.X_train)),
                registered_model_name=MODEL,
                # served in this environment (--env-manager local): skip the inference
                pip_requirements=[f"scikit-learn=={version_of('scikit-learn')}"])
        MlflowClient().set_registered_model_alias(MODEL, ALIAS,
                                                  str(info.registered_model_version))
    t2 = time.perf_counter()
    say(f"    registered: nbmlops {MODEL}/{version.version}@{ALIAS} in {fmt_s(t1 - t0)}; "
        f"MLflow {MODEL} version {info.registered_model_version}@{ALIAS} in "
        f"{fmt_s(t2 - t1)} (both skops, signature from the training data; untimed)")


def bench_start(b: Bench) -> None:
    say("[1] registering the model, then starting the servers one after the other "
        "(launch to the first /health answer)")
    register_both(b)
    env, logs = b.env(), b.logs()
    nb_cmd = [sys.executable, "-m", "nbmlops.serving", f"{MODEL}@{ALIAS}", "--host", HOST,
              "--workers", "1"]
    ml_env = dict(env, MLFLOW_TRACKING_URI=b.mlflow_uri)
    specs = [
        ("nb", "nbmlops", [*nb_cmd, "--log-dir", str(b.nb_log_dir)], "/predict", env),
        ("nolog", "nbmlops --no-log", [*nb_cmd, "--name", f"{MODEL}-nolog", "--no-log"],
         "/predict", env),
        ("ml", "MLflow", [sys.executable, "-m", "mlflow", "models", "serve", "-m",
                          f"models:/{MODEL}@{ALIAS}", "--env-manager", "local", "--host",
                          HOST, "--workers", "1"], "/invocations", ml_env),
    ]
    if b.args.rollout:
        specs[1:1] = [
            ("canary", "nbmlops canary 0.1", [*nb_cmd, "--name", f"{MODEL}-canary",
                                              "--canary", "candidate", "--share", "0.1"],
             "/predict", env),
            ("shadow", "nbmlops shadow", [*nb_cmd, "--name", f"{MODEL}-shadow", "--shadow",
                                          "candidate"], "/predict",
             # scored in the worker's thread; --shadow-process adds the process (the
             # default on 2 CPUs or more)
             dict(env, NBMLOPS_SHADOW_PROCESS="0"))]
        if b.args.shadow_process:  # the shadow scored in a process of its own
            specs[3:3] = [
                ("shadow-process", "nbmlops shadow proc", [
                    *nb_cmd, "--name", f"{MODEL}-shadow-process", "--shadow", "candidate"],
                 "/predict", dict(env, NBMLOPS_SHADOW_PROCESS="1"))]
    for key, label, command, path, server_env in specs:
        port = free_port(HOST)
        command = [*command, "--port", str(port)]
        server = Server(key, label, command, path, port, logs / f"{key}.log", server_env,
                        b.project)
        b.servers[key] = server  # stopped at the end, even if it does not start
        server.start()
        shown = " ".join(Path(c).name if c == sys.executable else c for c in command)
        say(f"    {label:<17} {fmt_s(server.started_in):>9}  ({shown})")
    b.rows.append(Row("start-up: launch to first /health (1 sample)",
                      b.servers["nb"].started_in, b.servers["ml"].started_in))


# -- the timed batches -------------------------------------------------------------------------

def sequential(b: Bench, server: Server, n: int, offset: int) -> dict[str, float]:
    """``n`` single-row requests one after the other on one connection."""
    (conn,) = server.connections(1)
    bodies = b.single_bodies
    server.post(conn, bodies[offset % len(bodies)], 1)
    times = []
    cpu0 = server.cpu()
    start = time.perf_counter()
    for i in range(n):
        body = bodies[(offset + i) % len(bodies)]
        t0 = time.perf_counter()
        server.post(conn, body, 1)
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    cpu1 = server.cpu()
    server.latencies += times
    out = {"rate": n / wall, "p50": percentile(times, 50), "p99": percentile(times, 99),
           "max": max(times)}
    if cpu0 is not None and cpu1 is not None:
        out["cpu"] = (cpu1 - cpu0) / n
    return out


def concurrent(b: Bench, server: Server, per_conn: int, offset: int) -> dict[str, float]:
    """``per_conn`` single-row requests on each of CONNECTIONS connections at once."""
    conns = server.connections(CONNECTIONS)
    bodies = b.single_bodies
    for conn in conns:
        server.post(conn, bodies[offset % len(bodies)], 1)
    barrier = threading.Barrier(CONNECTIONS + 1)
    errors: list[BaseException] = []

    def work(k: int, conn: http.client.HTTPConnection) -> None:
        barrier.wait()
        try:
            for i in range(per_conn):
                server.post(conn, bodies[(offset + k * per_conn + i) % len(bodies)], 1)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k, conn), daemon=True)
               for k, conn in enumerate(conns)]
    for thread in threads:
        thread.start()
    cpu0 = server.cpu()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    cpu1 = server.cpu()
    if errors:
        raise errors[0]
    out = {"rate": CONNECTIONS * per_conn / wall}
    if cpu0 is not None and cpu1 is not None:
        out["cpu"] = (cpu1 - cpu0) / (CONNECTIONS * per_conn)
    return out


def big_requests(b: Bench, server: Server, n: int, offset: int) -> dict[str, float]:
    """``n`` requests of 1,000 rows one after the other on one connection."""
    (conn,) = server.connections(1)
    times = []
    cpu0 = server.cpu()
    for i in range(n):
        body = b.big_bodies[(offset + i) % 2]
        t0 = time.perf_counter()
        server.post(conn, body, BIG)
        times.append(time.perf_counter() - t0)
    cpu1 = server.cpu()
    out = {"median": median(times), "max": max(times)}
    if cpu0 is not None and cpu1 is not None:
        out["cpu"] = (cpu1 - cpu0) / n
    return out


def rounds(b: Bench, section: str, batch: Callable[[Server, int], dict[str, float]]
           ) -> dict[str, dict[str, list[float]]]:
    """``b.rounds`` rounds of ``batch`` on every server, the order reversed every other
    round; per server, each figure's values over the rounds."""
    keys = list(b.servers)
    out: dict[str, dict[str, list[float]]] = {key: {} for key in keys}
    for r in range(b.rounds):
        order = alternate(keys, r)
        for key in order:
            for name, value in batch(b.servers[key], r).items():
                out[key].setdefault(name, []).append(value)
        if b.args.verbose:
            say(f"      round {r + 1}/{b.rounds} ({section}): " + ", ".join(
                f"{b.servers[k].label} {describe(out[k])}" for k in keys)
                + f"  (load {load_average()})")
    return out


def describe(figures: dict[str, list[float]]) -> str:
    if "rate" in figures:
        return fmt_rate(figures["rate"][-1])
    return fmt_s(figures["median"][-1])


def med(figures: dict[str, list[float]], name: str) -> float | None:
    values = figures.get(name)
    return median(values) if values else None


def warm_up(b: Bench) -> None:
    for server in b.servers.values():
        (conn,) = server.connections(1)
        for i in range(b.warm):
            server.post(conn, b.single_bodies[i], 1)
        for body in b.big_bodies:
            server.post(conn, body, BIG)
    for key in b.servers:
        concurrent(b, b.servers[key], b.concurrent, 0)


# -- 2. single rows, one connection -----------------------------------------------------------

def bench_single(b: Bench) -> None:
    say(f"[2] single-row requests, one after the other on one keep-alive connection "
        f"({b.rounds} interleaved rounds of {b.single} requests per server, after an "
        f"untimed warm-up; medians over rounds)")
    warm_up(b)
    res = rounds(b, "single", lambda s, r: sequential(b, s, b.single, r * b.single))
    say(f"    {'server':<17} {'requests/s':>10} {'p50':>9} {'p99':>9} {'p99 all':>9} "
        f"{'worst':>9} {'server CPU/request':>19}")
    for key, server in b.servers.items():
        f = res[key]
        say(f"    {server.label:<17} {fmt_rate(med(f, 'rate')):>10} {fmt_s(med(f, 'p50')):>9} "
            f"{fmt_s(med(f, 'p99')):>9} {fmt_s(percentile(server.latencies, 99)):>9} "
            f"{fmt_s(max(f['max'])):>9} {fmt_s(med(f, 'cpu')):>19}")
    say("    (p50, p99: the medians over rounds of each round's percentiles; p99 all: over "
        "the requests of all rounds together; worst: the slowest of them; server CPU: "
        "user + system time of the server's processes, over the requests)")
    nb, nolog, ml = res["nb"], res["nolog"], res["ml"]
    rate = Row("single-row requests/s, 1 connection", med(nb, "rate"), med(ml, "rate"),
               rate=True, target=">= 5x")
    rate.met = None if rate.ratio is None else rate.ratio >= 5
    p50 = Row("single-row p50 latency", med(nb, "p50"), med(ml, "p50"), target="<= 2 ms")
    p50.met = None if p50.nb is None else float(p50.nb) <= 0.002
    p99 = Row("single-row p99 latency", med(nb, "p99"), med(ml, "p99"), target="lower")
    p99.met = None if p99.ratio is None else p99.ratio > 1
    b.rows += [rate, p50, p99,
               Row("server CPU per single-row request", med(nb, "cpu"), med(ml, "cpu"))]
    rollout_rows(b, res, "single-row requests/s, 1 connection")
    b.extra_rows += [
        Row("--no-log: single-row requests/s, 1 connection", med(nolog, "rate"),
            med(ml, "rate"), rate=True),
        Row("--no-log: single-row p99 latency", med(nolog, "p99"), med(ml, "p99")),
    ]


def rollout_rows(b: Bench, res: dict[str, dict[str, list[float]]], what: str) -> None:
    """A canary's and a shadow's cost: their requests/s (the "nbmlops" column) against
    the same server alone (the "MLflow" column), target at least 0.9 (at most 10% less),
    and their server CPU per request."""
    nb = res["nb"]
    for key in ("canary", "shadow", "shadow-process"):
        if key in res:
            row = Row(f"{key}: {what} vs nbmlops alone", med(res[key], "rate"),
                      med(nb, "rate"), rate=True, target=">= 0.9x")
            row.met = None if row.ratio is None else row.ratio >= 0.9
            b.rollout_rows.append(row)
            how = what.rsplit(",", 1)[-1].strip()
            b.rollout_rows.append(Row(f"{key}: server CPU per request ({how}) vs alone",
                                      med(res[key], "cpu"), med(nb, "cpu")))


# -- 3. single rows, several connections ----------------------------------------------------

def bench_concurrent(b: Bench) -> None:
    say(f"[3] single-row requests from {CONNECTIONS} keep-alive connections at once, one "
        f"client thread each ({b.rounds} interleaved rounds of {CONNECTIONS} x "
        f"{b.concurrent} requests per server)")
    res = rounds(b, "concurrent", lambda s, r: concurrent(b, s, b.concurrent,
                                                          r * CONNECTIONS * b.concurrent))
    for key, server in b.servers.items():
        f = res[key]
        say(f"    {server.label:<17} {fmt_rate(med(f, 'rate')):>10}  server CPU/request "
            f"{fmt_s(med(f, 'cpu')):>9}")
    say("    (the client's threads share one interpreter: with 2 cores, client and server "
        "compete for them, so this is what one worker sustains on this machine, not a "
        "ceiling)")
    b.rows.append(Row(f"single-row requests/s, {CONNECTIONS} connections",
                      med(res["nb"], "rate"), med(res["ml"], "rate"), rate=True))
    rollout_rows(b, res, f"single-row requests/s, {CONNECTIONS} connections")
    b.extra_rows.append(Row(f"--no-log: single-row requests/s, {CONNECTIONS} connections",
                            med(res["nolog"], "rate"), med(res["ml"], "rate"), rate=True))


# -- 4. 1,000-row requests -------------------------------------------------------------------

def bench_big(b: Bench) -> None:
    kb = len(b.big_bodies[0]) / 1024
    say(f"[4] {BIG:,}-row requests ({kb:,.0f} KiB of JSON each) on one keep-alive connection "
        f"({b.rounds} interleaved rounds of {b.big} requests per server)")
    res = rounds(b, "1,000 rows", lambda s, r: big_requests(b, s, b.big, r * b.big))
    for key, server in b.servers.items():
        f = res[key]
        say(f"    {server.label:<17} median {fmt_s(med(f, 'median')):>9}  worst "
            f"{fmt_s(max(f['max'])):>9}  server CPU/request {fmt_s(med(f, 'cpu')):>9}")
    b.rows.append(Row(f"{BIG:,}-row request, median latency", med(res["nb"], "median"),
                      med(res["ml"], "median")))
    b.extra_rows.append(Row(f"--no-log: {BIG:,}-row request, median latency",
                            med(res["nolog"], "median"), med(res["ml"], "median")))


# -- 5. checks -----------------------------------------------------------------------------

def bench_check(b: Bench) -> None:
    import numpy as np

    say(f"[5] checks (not timed): the {len(b.X_test):,} held-out rows in one request, and "
        f"the first 100 one row at a time, against the model's own predict")
    verdicts: dict[str, bool] = {}
    for key, server in b.servers.items():
        (conn,) = server.connections(1)
        whole = json.loads(server.post(conn, b.all_body, len(b.X_test)))["predictions"]
        singles = [json.loads(server.post(conn, body, 1))["predictions"][0]
                   for body in b.single_bodies[:100]]
        same = (np.array_equal(np.asarray(whole), b.expected)
                and np.array_equal(np.asarray(singles), b.expected[:100]))
        verdicts[key] = same
        say(f"    {server.label:<17} predictions "
            f"{'identical' if same else 'DIFFER from the model'}")
    def word(ok: bool) -> str:
        return "identical" if ok else "DIFFER"

    b.rows.append(Row(f"predictions vs model.predict ({len(b.X_test):,} + 100 rows)",
                      word(all(v for k, v in verdicts.items() if k != "ml")),
                      word(verdicts["ml"]),
                      target="identical", met=all(verdicts.values())))


def check_log(b: Bench) -> None:
    """After the servers stopped: nbmlops' prediction log holds every row sent."""
    from nbmlops.serving.predlog import read

    server = b.servers["nb"]
    try:
        logged = len(read(b.nb_log_dir))
    except Exception as exc:
        say(f"    nbmlops' prediction log could not be read: {exc!r}")
        return
    parts = len(list(b.nb_log_dir.glob("part-*.parquet")))
    ok = logged == server.rows_sent
    say(f"    nbmlops' prediction log holds {logged:,} rows in {parts} Parquet parts "
        f"({'every row' if ok else 'NOT every row'} of the {server.rows_sent:,} sent)")


# -- main ---------------------------------------------------------------------------------------

SECTIONS: list[tuple[int, Callable[[Bench], None]]] = [
    (1, bench_start), (2, bench_single), (3, bench_concurrent), (4, bench_big),
    (5, bench_check)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser("Model serving: nbmlops' server side by side with MLflow's.",
                          "4 rounds of 100 single-row requests instead of 10 of 200")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="interleaved rounds per section (default 10, 4 with --quick)")
    parser.add_argument("--requests", type=int, metavar="N",
                        help="single-row requests per server and round (default 200, 100 "
                             "with --quick; an eighth of that per connection in section 3)")
    parser.add_argument("--verbose", action="store_true", help="print every round")
    parser.add_argument("--shadow-process", action="store_true",
                        help="one more server: a shadow scored in a process of its own "
                             "(NBMLOPS_SHADOW_PROCESS=1, the default on 2 CPUs or more), "
                             "beside the one scored in the worker's thread")
    parser.add_argument("--no-rollout", dest="rollout", action="store_false",
                        help="leave out the canary (share 0.1) and shadow servers, whose "
                             "cost is measured by default")
    parser.add_argument("--rollout", dest="rollout", action="store_true",
                        help=argparse.SUPPRESS)  # the default; kept for old command lines
    args = parse_bench_args(parser, argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds takes a positive number")
    if args.requests is not None and args.requests < CONNECTIONS:
        parser.error(f"--requests takes a number from {CONNECTIONS}")
    return args


def print_header(b: Bench) -> None:
    say_header("nbmlops model serving benchmark", b.quick, [
        ("MLflow", f"{version_of('mlflow')}  (FastAPI {version_of('fastapi')})"),
        ("server stack", f"uvicorn {version_of('uvicorn')}, Starlette "
                         f"{version_of('starlette')}, uvloop {version_of('uvloop')}, "
                         f"httptools {version_of('httptools')}"),
        ("scikit-learn", f"{version_of('scikit-learn')}  (pandas {version_of('pandas')}, "
                         f"NumPy {version_of('numpy')})"),
    ], [
        ("model", f"LogisticRegression(max_iter=1000), fitted in {fmt_s(b.fit_seconds)} on "
                  f"{len(b.X_train):,} of make_classification({N_SAMPLES}, {N_FEATURES}, "
                  f"random_state=0); {len(b.X_test):,} held out"),
        ("repetitions", f"{b.rounds} rounds: {b.single} single-row requests, {CONNECTIONS} "
                        f"x {b.concurrent} concurrent ones and {b.big} of {BIG:,} rows per "
                        "server and round"),
        temp_dir_field(b.root, b.args.keep),
    ])
    say()


@contextlib.contextmanager
def servers_stopped(b: Bench) -> Iterator[None]:
    try:
        yield
    finally:
        for server in b.servers.values():
            server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body(b: Bench) -> int:
        print_header(b)
        with servers_stopped(b):
            run = run_sections(SECTIONS, b, fatal={1})  # no servers: nothing else can run
        if "nb" in b.servers and b.servers["nb"].started_in is not None:
            check_log(b)
            say()
        say_summary(b.quick, run.started)
        print_summary(b.rows + b.rollout_rows + b.extra_rows)
        return run.status

    def stop_servers(b: Bench | None) -> None:  # after an interrupt, say
        for server in b.servers.values() if b is not None else ():
            with contextlib.suppress(Exception):
                server.stop(timeout=5)

    # set before nbmlops or MLflow is imported; the servers inherit them
    env = {**MLFLOW_QUIET_ENV,
           # MLflow 3.17 loads no model file, skops included, without it
           "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
           "PYTHONWARNINGS": "ignore"}
    return run_in_workspace("nbmlops-bench-serve-", lambda root: Bench(args, root), body,
                            keep=args.keep, env=env, on_exit=stop_servers)


if __name__ == "__main__":
    sys.exit(main())
