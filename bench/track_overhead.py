"""What tracking costs: nbmlops side by side with MLflow, against the project's targets.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/track_overhead.py                # full run, a few minutes
    .venv/bin/python bench/track_overhead.py --quick        # fewer repetitions and runs
    .venv/bin/python bench/track_overhead.py --skip-mlflow  # nbmlops only
    .venv/bin/python bench/track_overhead.py --only 1,5     # some sections only
    .venv/bin/python bench/track_overhead.py --only 1 --journal-off  # without the journal

Sections (each prints its details; a summary table closes the run):

1. ``%%track`` overhead through a real IPython shell, without and with a DataFrame
   fingerprint, vs one MLflow run logging the same (SQLite backend).
2. 10,000 ``nbmlops.log_metric`` calls in one run vs ``mlflow.log_metric`` in a loop.
3. ``nbmlops.runs()`` over 2,000 runs vs ``mlflow.search_runs()``.
4. ``import nbmlops``, ``%load_ext nbmlops`` and the first ``%%track`` in fresh processes
   vs ``import mlflow`` and MLflow's first run.
5. Fingerprint of a 1,000,000 x 20 float DataFrame vs ``mlflow.data.from_pandas``.
6. Storing a fitted 50-tree random forest vs ``mlflow.sklearn.log_model``.
7. Environment capture: a one-off per process, not paid by later runs.

Both stores (nbmlops' SQLite store and artifacts, MLflow's ``sqlite:///`` backend and
artifact root) live in a fresh temporary directory, which is also the working directory
(a project folder outside git) and IPython's profile directory; it is deleted at the end
unless ``--keep`` is given. Timings are wall-clock and indicative: other work on the
machine shows up in them (the load average is printed at the top).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
from _harness import (
    MLFLOW_QUIET_ENV,
    BenchContext,
    bench_parser,
    fmt_met,
    fmt_s,
    median,
    mlflow_uri,
    open_mlflow,
    p90,
    parse_bench_args,
    print_table,
    quiet,
    repeat,
    run_in_workspace,
    run_sections,
    say,
    say_header,
    say_summary,
    temp_dir_field,
    version_of,
)

SECTIONS = (1, 2, 3, 4, 5, 6, 7)
N_FEATURES = 20


def mlflow_installed() -> bool:
    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        return False


# -- results ----------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the summary table (durations in seconds)."""

    measure: str
    nb: float | None
    ml: float | None = None
    limit: float | None = None  # target: nbmlops takes at most this long
    min_ratio: float | None = None  # target: MLflow / nbmlops is at least this
    ml_note: str = ""  # e.g. "extrap." when MLflow's figure is extrapolated
    target_text: str | None = None  # a target that is neither of the above...
    target_met: bool | None = None  # ...and whether it is met

    @property
    def ratio(self) -> float | None:
        if self.nb is None or self.ml is None:
            return None
        if self.nb <= 0:
            return float("inf")
        return self.ml / self.nb

    def checks(self) -> list[tuple[str, bool | None]]:
        out: list[tuple[str, bool | None]] = []
        if self.limit is not None:
            out.append((f"<= {fmt_s(self.limit)}",
                        None if self.nb is None else self.nb <= self.limit))
        if self.min_ratio is not None:
            r = self.ratio
            out.append((f">= {self.min_ratio:g}x", None if r is None else r >= self.min_ratio))
        if self.target_text is not None:
            out.append((self.target_text, self.target_met))
        return out


def print_summary(rows: list[Row]) -> None:
    lines = []
    for row in rows:
        checks = row.checks()
        ratio = row.ratio
        ratio_text = "n/a" if ratio is None else ("inf" if ratio == float("inf")
                                                 else f"{ratio:,.1f}x")
        ml = fmt_s(row.ml) + (f" ({row.ml_note})" if row.ml_note and row.ml is not None
                              else "")
        met = " & ".join(fmt_met(ok) for _, ok in checks)
        lines.append((row.measure, fmt_s(row.nb), ml, ratio_text,
                      " & ".join(text for text, _ in checks) or "-", met or "-"))
    print_table(("measure", "nbmlops", "MLflow", "ratio", "target", "met?"), lines,
                right={1, 2, 3}, targets=(check for row in rows for check in row.checks()),
                notes=["ratio = MLflow / nbmlops (above 1: nbmlops is cheaper). 'extrap.' "
                       "marks an MLflow figure scaled up from a smaller count."])


# -- the benchmark context ----------------------------------------------------------------

class Bench(BenchContext):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        super().__init__(args, root)
        self.rows: list[Row] = []
        self.use_mlflow = not args.skip_mlflow and mlflow_installed()
        self._shell: Any = None
        self._mlflow_ready = False
        self._experiments: dict[str, str] = {}
        self.store_env = self.nbmlops_env("main")
        os.environ.update(self.store_env)

    # -- nbmlops ---------------------------------------------------------------------------
    def nbmlops_env(self, name: str) -> dict[str, str]:
        base = self.root / f"nbmlops-{name}"
        return {"NBMLOPS_STORE": str(base / "lineage.db"),
                "NBMLOPS_ARTIFACTS": str(base / "artifacts")}

    @contextlib.contextmanager
    def nbmlops_store(self, name: str) -> Iterator[None]:
        """Point nbmlops at another fresh store for the block (a new workspace opens)."""
        os.environ.update(self.nbmlops_env(name))
        try:
            yield
        finally:
            os.environ.update(self.store_env)

    def shell(self) -> Any:
        """A real IPython InteractiveShell with ``%load_ext nbmlops`` done."""
        if self._shell is None:
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config

            config = Config()
            config.HistoryManager.hist_file = ":memory:"
            shell = InteractiveShell.instance(config=config)
            shell.colors = "nocolor"
            run_ok(shell, "%load_ext nbmlops")
            if self.args.journal_off:
                run_ok(shell, "%nbmlops journal off")
            self._shell = shell
        return self._shell

    # -- MLflow ------------------------------------------------------------------------------
    @property
    def mlflow_uri(self) -> str:
        return mlflow_uri(self.root)

    def mlflow(self) -> Any:
        """MLflow pointed at its SQLite backend in the temp dir (tables created, untimed)."""
        import mlflow

        if not self._mlflow_ready:
            open_mlflow(self.root)
            self._mlflow_ready = True
        return mlflow

    def mlflow_experiment(self, name: str) -> str:
        """An MLflow experiment whose artifacts go under the temp dir; made active."""
        mlflow = self.mlflow()
        if name not in self._experiments:
            location = (self.root / "mlflow" / "artifacts" / name).as_uri()
            with quiet():
                self._experiments[name] = mlflow.create_experiment(
                    name, artifact_location=location)
        mlflow.set_experiment(experiment_id=self._experiments[name])
        return self._experiments[name]

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def run_ok(shell: Any, code: str) -> Any:
    result = shell.run_cell(code)
    if not result.success:
        raise RuntimeError(f"cell failed: {result.error_before_exec or result.error_in_exec}\n"
                           f"{code}")
    return result


def frame(rows: int, seed: int = 0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, N_FEATURES)),
                        columns=[f"f{i}" for i in range(N_FEATURES)])


PARAMS = {f"p{i}": round(0.1 * (i + 1), 3) for i in range(10)}
METRICS = {f"m{i}": 0.5 + i / 100 for i in range(10)}
TAGS = {"team": "growth", "stage": "dev", "owner": "bench"}


# -- 1. %%track overhead ----------------------------------------------------------------------

CELL_SETUP = "\n".join([
    "import numpy as np",
    "import pandas as pd",
    "rng = np.random.default_rng(0)",
    f"df = pd.DataFrame(rng.normal(size=(10_000, {N_FEATURES})), "
    f"columns=[f'f{{i}}' for i in range({N_FEATURES})])",
    *(f"{k} = {v!r}" for k, v in PARAMS.items()),
])
# reads the 10 scalars, binds 10 float metrics
CELL_PLAIN = "\n".join(f"m{i} = p{i} * 1.5 + 0.25" for i in range(10))
# the same, and reads the 10,000 x 20 DataFrame (so %%track fingerprints it)
CELL_DATA = "\n".join(f"m{i} = p{i} * 1.5 + df.shape[0] * 1e-9" for i in range(10))


def mlflow_run_like_cell(mlflow: Any, df: Any | None) -> None:
    mlflow.start_run()
    mlflow.log_params(PARAMS)
    mlflow.log_metrics(METRICS)
    mlflow.set_tags(TAGS)
    if df is not None:
        mlflow.log_input(mlflow.data.from_pandas(df, name="df"))
    mlflow.end_run()


def bench_track_cell(b: Bench) -> None:
    reps = b.args.reps or b.n(200, 50)
    warm = b.n(20, 5)
    shell = b.shell()
    run_ok(shell, CELL_SETUP)
    say(f"[1] %%track overhead through a real IPython shell ({reps} interleaved runs of each "
        f"after {warm} warm-up; overhead = tracked median - untracked median; cell journal "
        f"{'off' if b.args.journal_off else 'on'})")
    results: dict[str, float] = {}
    for key, code in (("plain", CELL_PLAIN), ("data", CELL_DATA)):
        tracked = "%%track -q\n" + code
        for _ in range(warm):
            run_ok(shell, code)
            run_ok(shell, tracked)
        plain_t, tracked_t = [], []
        for _ in range(reps):  # interleaved, so drift in machine load hits both alike
            t0 = time.perf_counter()
            shell.run_cell(code)
            t1 = time.perf_counter()
            shell.run_cell(tracked)
            t2 = time.perf_counter()
            plain_t.append(t1 - t0)
            tracked_t.append(t2 - t1)
        overhead = median(tracked_t) - median(plain_t)
        results[key] = overhead
        label = ("cell reads 10 scalars, binds 10 floats (no fingerprint)" if key == "plain"
                 else "same + reads a 10,000x20 DataFrame (fingerprinted)")
        say(f"    {label}")
        say(f"      untracked  median {fmt_s(median(plain_t)):>9}  p90 {fmt_s(p90(plain_t)):>9}")
        say(f"      %%track    median {fmt_s(median(tracked_t)):>9}  p90 "
            f"{fmt_s(p90(tracked_t)):>9}")
        say(f"      overhead   median {fmt_s(overhead):>9}  p90 "
            f"{fmt_s(p90(tracked_t) - p90(plain_t)):>9}  (p90 tracked - p90 untracked)")
    _check_cell_record(b)

    ml_plain = ml_data = None
    if b.use_mlflow:
        mlflow = b.mlflow()
        b.mlflow_experiment("bench-cell")
        df = shell.user_ns["df"]
        n_ml = b.n(40, 10)
        with quiet():
            plain = repeat(lambda: mlflow_run_like_cell(mlflow, None), n_ml, warmup=3)
            data = repeat(lambda: mlflow_run_like_cell(mlflow, df), n_ml, warmup=2)
        ml_plain, ml_data = median(plain), median(data)
        say(f"    MLflow run: start_run + log_params(10) + log_metrics(10) + set_tags(3) + "
            f"end_run ({n_ml} runs)")
        say(f"      median {fmt_s(ml_plain):>9}  p90 {fmt_s(p90(plain)):>9}")
        say("    MLflow run as above + log_input(mlflow.data.from_pandas(df 10,000x20))")
        say(f"      median {fmt_s(ml_data):>9}  p90 {fmt_s(p90(data)):>9}")
    b.rows.append(Row("%%track overhead, no fingerprint (median)", results["plain"], ml_plain,
                      limit=0.003, min_ratio=10))
    b.rows.append(Row("%%track overhead, 10k x 20 DataFrame read", results["data"], ml_data,
                      limit=0.015, min_ratio=10))


def _check_cell_record(b: Bench) -> None:
    """Make sure the tracked cells recorded what they should (else the timing means little)."""
    import nbmlops

    last = nbmlops.runs(limit=1)
    rec = nbmlops.get_run(last.run_id.iloc[0])
    problems = []
    if set(rec.params) != set(PARAMS):
        problems.append(f"params {sorted(rec.params)}")
    if set(rec.metrics) != {f"m{i}" for i in range(10)}:
        problems.append(f"metrics {sorted(rec.metrics)}")
    if [link.name for link in rec.inputs] != ["df"]:
        problems.append(f"inputs {[link.name for link in rec.inputs]}")
    if problems:
        say(f"    WARNING: the last tracked cell recorded unexpected {', '.join(problems)}")
    else:
        say("    (checked: the last tracked cell recorded 10 params, 10 metrics, input 'df')")


# -- 2. many log_metric calls -------------------------------------------------------------

N_METRIC_CALLS = 10_000


def bench_log_metric(b: Bench) -> None:
    import nbmlops

    reps = b.n(5, 3)
    say(f"[2] {N_METRIC_CALLS:,} log_metric('loss', v, step=i) calls in one run "
        f"(median of {reps}; includes the run's start and end, which writes them)")
    run_ids: list[str] = []

    def nb_loop() -> None:
        with nbmlops.track("bench-metrics", "loss-curve") as run:
            log = nbmlops.log_metric
            for i in range(N_METRIC_CALLS):
                log("loss", 1.0 / (i + 1), step=i)
        run_ids.append(run.id)

    times = repeat(nb_loop, reps, warmup=1)
    stored = len(nbmlops.metric_history(run_ids[-1], "loss"))
    nb = median(times)
    say(f"    nbmlops  total median {fmt_s(nb):>9}  p90 {fmt_s(p90(times)):>9}  "
        f"= {fmt_s(nb / N_METRIC_CALLS)} per call  ({stored:,} values stored)")
    if stored != N_METRIC_CALLS:
        say(f"    WARNING: expected {N_METRIC_CALLS:,} stored values, found {stored:,}")

    ml_total = None
    if b.use_mlflow:
        mlflow = b.mlflow()
        b.mlflow_experiment("bench-metrics")
        calls = b.n(500, 100)
        with quiet():
            mlflow.start_run()
            try:
                for i in range(10):
                    mlflow.log_metric("warmup", 0.1, step=i)
                t0 = time.perf_counter()
                for i in range(calls):
                    mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
                elapsed = time.perf_counter() - t0
            finally:
                mlflow.end_run()
        per_call = elapsed / calls
        ml_total = per_call * N_METRIC_CALLS
        say(f"    MLflow   {calls} calls took {fmt_s(elapsed)} = {fmt_s(per_call)} per call; "
            f"{N_METRIC_CALLS:,} calls extrapolated: {fmt_s(ml_total)}")
    b.rows.append(Row(f"{N_METRIC_CALLS:,} log_metric calls in a run", nb, ml_total,
                      limit=0.5, ml_note="extrap."))


# -- 3. querying runs ----------------------------------------------------------------------

# Compiled with a "<...>" file name: nbmlops.track() records the calling script's source
# as each run's code, and 2,000 copies of this 30 kB file would bloat the store far beyond
# what notebook cells (a few hundred bytes each) put there.
_POPULATE = '''
def populate(nbmlops, n, params_of, metrics_of, tags):
    for i in range(n):
        with nbmlops.track("bench-runs", f"run-{i}", params=params_of(i), tags=tags):
            nbmlops.log_metrics(metrics_of(i))
'''


def run_params(i: int) -> dict[str, Any]:
    return {"lr": 10.0 ** -(1 + i % 4), "depth": 2 + i % 8, "n_estimators": 50 + i % 200,
            "optimizer": ("adam", "sgd", "rmsprop")[i % 3], "dropout": round(0.05 * (i % 10), 2),
            "batch_size": 2 ** (4 + i % 5), "seed": i, "subsample": 0.5 + (i % 5) / 10,
            "loss_fn": "logloss", "use_bias": bool(i % 2)}


def run_metrics(i: int) -> dict[str, float]:
    return {f"metric_{k}": ((i * 7919 + k * 104729) % 10_000) / 10_000 for k in range(10)}


def bench_runs_query(b: Bench) -> None:
    import nbmlops

    n_nb = b.args.runs or 2000
    n_ml = b.args.mlflow_runs or b.n(2000, 300)
    reps = b.n(7, 5)
    say(f"[3] listing runs into a DataFrame (each run: 10 params, 10 metrics, 3 tags; "
        f"median of {reps} queries)")
    ns: dict[str, Any] = {}
    exec(compile(_POPULATE, "<bench-populate>", "exec"), ns)
    with b.nbmlops_store("runs"):
        t0 = time.perf_counter()
        ns["populate"](nbmlops, n_nb, run_params, run_metrics, TAGS)
        made = time.perf_counter() - t0
        times = repeat(nbmlops.runs, reps, warmup=1)
        got = nbmlops.runs()
    nb = median(times)
    say(f"    nbmlops  created {n_nb:,} runs via nbmlops.track in {fmt_s(made)} "
        f"({fmt_s(made / n_nb)} per run)")
    say(f"    nbmlops  runs()          median {fmt_s(nb):>9}  p90 {fmt_s(p90(times)):>9}  "
        f"-> {got.shape[0]:,} rows x {got.shape[1]} columns")
    if got.shape[0] != n_nb:
        say(f"    WARNING: expected {n_nb:,} rows")

    ml = None
    note = ""
    if b.use_mlflow:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        b.mlflow()
        exp_id = b.mlflow_experiment("bench-runs")
        client = MlflowClient(tracking_uri=b.mlflow_uri)
        t0 = time.perf_counter()
        with quiet():
            for i in range(n_ml):
                # create_run + log_batch + set_terminated: the same content as
                # start_run/log_params/log_metrics/set_tags/end_run, in fewer transactions
                run = client.create_run(exp_id, run_name=f"run-{i}", tags=TAGS)
                now = int(time.time() * 1000)
                client.log_batch(
                    run.info.run_id,
                    metrics=[Metric(k, v, now, 0) for k, v in run_metrics(i).items()],
                    params=[Param(k, str(v)) for k, v in run_params(i).items()])
                client.set_terminated(run.info.run_id)
            made = time.perf_counter() - t0
            mlflow = b.mlflow()
            search = lambda: mlflow.search_runs(experiment_ids=[exp_id])  # noqa: E731
            ml_times = repeat(search, b.n(5, 3), warmup=1)
            ml_frame = search()
        ml_measured = median(ml_times)
        say(f"    MLflow   created {n_ml:,} runs via MlflowClient in {fmt_s(made)} "
            f"({fmt_s(made / n_ml)} per run)")
        say(f"    MLflow   search_runs()   median {fmt_s(ml_measured):>9}  "
            f"p90 {fmt_s(p90(ml_times)):>9}  -> {ml_frame.shape[0]:,} rows x "
            f"{ml_frame.shape[1]} columns")
        ml = ml_measured
        if n_ml != n_nb:
            ml = ml_measured * n_nb / n_ml
            note = "extrap."
            say(f"    MLflow   measured over {n_ml:,} runs; scaled linearly to {n_nb:,}: "
                f"{fmt_s(ml)} (extrapolated)")
    b.rows.append(Row(f"runs() over {n_nb:,} runs -> DataFrame", nb, ml, limit=0.050,
                      ml_note=note))


# -- 4. fresh processes -----------------------------------------------------------------------

SUB_IMPORT = """
import json, time
t0 = time.perf_counter()
import {module}
print(json.dumps({{"import": time.perf_counter() - t0}}))
"""

SUB_LOAD_EXT = """
import json, time
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
config = Config()
config.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=config)
t0 = time.perf_counter()
shell.run_line_magic("load_ext", "nbmlops")
t1 = time.perf_counter()
first = shell.run_cell("%%track -q\\nx = 0.5")
t2 = time.perf_counter()
second = shell.run_cell("%%track -q\\ny = 0.25")
t3 = time.perf_counter()
assert first.success and second.success
print(json.dumps({"load_ext": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
"""

SUB_MLFLOW_FIRST_RUN = """
import json, logging, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import mlflow
t1 = time.perf_counter()
logging.getLogger("mlflow").setLevel(logging.ERROR)
mlflow.set_tracking_uri({uri!r})
mlflow.set_experiment(experiment_id={exp_id!r})
with mlflow.start_run():
    mlflow.log_metric("x", 0.5)
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first": t2 - t1}}))
"""


def in_fresh_process(b: Bench, code: str, reps: int) -> list[dict[str, float]] | None:
    """Run ``code`` in ``reps`` fresh interpreters (after one untimed warm-up)."""
    out = []
    for i in range(reps + 1):
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=b.project,
                              capture_output=True, text=True, env=dict(os.environ),
                              check=False, timeout=600)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            say(f"    WARNING: the subprocess failed:\n{textwrap.indent(tail, '      ')}")
            return None
        if i:  # the first one warms the OS file cache and writes .pyc files
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def _med(results: list[dict[str, float]] | None, key: str) -> float | None:
    return None if not results else median([r[key] for r in results])


def bench_fresh_process(b: Bench) -> None:
    from nbmlops import api

    reps = b.n(5, 3)
    api.workspace()  # the store exists (as in a kernel re-started on a project)
    say(f"[4] fresh processes (median of {reps}, after one warm-up process; timed inside "
        f"the process, interpreter start-up excluded)")
    imp = _med(in_fresh_process(b, SUB_IMPORT.format(module="nbmlops"), reps), "import")
    loaded = in_fresh_process(b, SUB_LOAD_EXT, reps)
    load_ext, first, second = (_med(loaded, k) for k in ("load_ext", "first", "second"))
    say(f"    import nbmlops                          {fmt_s(imp):>9}")
    say(f"    %load_ext nbmlops (fresh shell)         {fmt_s(load_ext):>9}")
    say(f"    first %%track cell right after loading  {fmt_s(first):>9}  (waits for the "
        f"background warm-up started by %load_ext: opening the store, reading the "
        f"environment; in a notebook the time before the first cell hides part of it)")
    say(f"    second %%track cell                     {fmt_s(second):>9}")
    ml_imp = ml_first = None
    if b.use_mlflow:
        ml_imp = _med(in_fresh_process(b, SUB_IMPORT.format(module="mlflow"), reps), "import")
        b.mlflow()
        exp_id = b.mlflow_experiment("bench-fresh")
        ml_run = in_fresh_process(b, SUB_MLFLOW_FIRST_RUN.format(uri=b.mlflow_uri,
                                                                 exp_id=exp_id), reps)
        ml_first = _med(ml_run, "first")
        say(f"    import mlflow                           {fmt_s(ml_imp):>9}")
        say(f"    MLflow first run after import           {fmt_s(ml_first):>9}  "
            f"(set_tracking_uri, set_experiment, start_run, log_metric, end_run)")
    b.rows.append(Row("import nbmlops (fresh process) vs import mlflow", imp, ml_imp))
    b.rows.append(Row("%load_ext nbmlops (fresh) vs import mlflow", load_ext, ml_imp,
                      limit=0.300))
    b.rows.append(Row("first %%track after load vs MLflow's first run", first, ml_first))


# -- 5. fingerprint of a large frame ------------------------------------------------------------

def bench_fingerprint(b: Bench) -> None:
    from nbmlops.tracking.fingerprint import fingerprint

    reps = b.n(5, 3)
    big = frame(1_000_000, seed=1)
    mb = big.memory_usage(index=True).sum() / 1e6
    say(f"[5] fingerprint of a 1,000,000 x {N_FEATURES} float64 DataFrame ({mb:,.0f} MB)")
    times = repeat(lambda: fingerprint(big), reps, warmup=1)
    nb = median(times)
    say(f"    nbmlops fingerprint()     median {fmt_s(nb):>9}  p90 {fmt_s(p90(times)):>9}  "
        f"({mb / 1e3 / nb:,.1f} GB/s; hashes every value)")
    ml = None
    if b.use_mlflow:
        import mlflow.data

        ml_reps = b.n(3, 1)
        with quiet():
            ml_times = repeat(lambda: mlflow.data.from_pandas(big), ml_reps)
        ml = median(ml_times)
        say(f"    mlflow.data.from_pandas() median {fmt_s(ml):>9}  ({ml_reps} runs; its digest "
            f"hashes the first 10,000 rows but inspects the type of every value)")
    b.rows.append(Row(f"fingerprint 1M x {N_FEATURES} DataFrame vs from_pandas", nb, ml,
                      limit=0.150))


# -- 6. storing a model ------------------------------------------------------------------------

def bench_log_model(b: Bench) -> None:
    import pickle

    from sklearn.ensemble import RandomForestClassifier

    import nbmlops

    reps = b.n(7, 3)
    ml_reps = b.n(5, 2)
    data = frame(2000, seed=2).to_numpy()
    target = (data[:, 0] + 0.5 * data[:, 1] > 0).astype(int)
    # a distinct model for every timed call: both stores are content-addressed or
    # versioned, and storing the very same bytes twice could be a no-op
    n_models = 1 + max(reps, ml_reps)
    t0 = time.perf_counter()
    models = [RandomForestClassifier(n_estimators=50, random_state=i).fit(data, target)
              for i in range(n_models)]
    fitted = time.perf_counter() - t0
    size = len(pickle.dumps(models[0], protocol=pickle.HIGHEST_PROTOCOL))
    say(f"[6] storing a fitted 50-tree RandomForestClassifier (2,000 x {N_FEATURES}; "
        f"pickle {size / 1e6:.1f} MB; {n_models} models fitted in {fmt_s(fitted)})")

    times = []
    for i, model in enumerate(models[: reps + 1]):
        with nbmlops.track("bench-model", f"rf-{i}") as run:
            t0 = time.perf_counter()
            run.log_model(model)
            if i:  # models[0] warms up
                times.append(time.perf_counter() - t0)
    nb = median(times)
    say(f"    nbmlops ActiveRun.log_model()  median {fmt_s(nb):>9}  p90 {fmt_s(p90(times)):>9}"
        f"  ({reps} models)")
    ml = None
    if b.use_mlflow:
        import mlflow.sklearn

        mlflow = b.mlflow()
        b.mlflow_experiment("bench-model")
        ml_times = []
        with quiet():
            for i, model in enumerate(models[: ml_reps + 1]):
                with mlflow.start_run():
                    t0 = time.perf_counter()
                    mlflow.sklearn.log_model(model, name="model",
                                             serialization_format="cloudpickle")
                    if i:
                        ml_times.append(time.perf_counter() - t0)
        ml = median(ml_times)
        say(f"    mlflow.sklearn.log_model()     median {fmt_s(ml):>9}  ({ml_reps} models; "
            f"cloudpickle like nbmlops' pickle, since MLflow's default skops format refuses "
            f"tree models without skops_trusted_types; includes its default pip "
            f"requirements inference)")
    b.rows.append(Row("log_model(50-tree random forest)", nb, ml, limit=0.050))


# -- 7. environment capture ------------------------------------------------------------------

def bench_environment(b: Bench) -> None:
    from nbmlops import api
    from nbmlops.tracking.environment import capture_environment

    reps = b.n(5, 3)
    computed = capture_environment.cache_info().misses  # by the earlier sections' runs
    say("[7] environment capture (Python, platform, installed packages)")
    uncached = repeat(capture_environment.__wrapped__, reps, warmup=1)
    from nbmlops.tracking import process_environment

    ws = api.workspace()
    env = process_environment(ws)  # what every run's end asks for (read once per process)
    per_run = median(repeat(lambda: process_environment(ws), 1000))
    one_off = median(uncached)
    say(f"    uncached capture (once per process)      median {fmt_s(one_off):>9}  "
        f"({len(env.packages)} packages)")
    say(f"    what each later run's end pays for it    median {fmt_s(per_run):>9}  "
        f"(process_environment(ws): the finished background read)")
    say(f"    computed {computed} time(s) in this process by all the tracked runs of the "
        f"earlier sections")
    b.rows.append(Row("environment capture, once per process", one_off,
                      target_text="one-off", target_met=None))
    b.rows.append(Row("environment capture, each later run", per_run,
                      target_text="~free (< 0.1 ms), computed once",
                      target_met=per_run < 1e-4 and computed <= 1))


# -- profiling (optional) ----------------------------------------------------------------------

def profile_track_cell(b: Bench) -> None:
    """cProfile over tracked cells, to see where the %%track overhead goes."""
    import cProfile
    import pstats

    shell = b.shell()
    run_ok(shell, CELL_SETUP)
    for label, code in (("no fingerprint", CELL_PLAIN), ("DataFrame read", CELL_DATA)):
        tracked = "%%track -q\n" + code
        for _ in range(10):
            run_ok(shell, tracked)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(100):
            shell.run_cell(tracked)
        prof.disable()
        say(f"--- cProfile: 100 tracked cells ({label}); cumulative times cover all 100 ---")
        stats = pstats.Stats(prof, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(35)


# -- main ---------------------------------------------------------------------------------------

BENCHES: dict[int, Callable[[Bench], None]] = {
    1: bench_track_cell, 2: bench_log_metric, 3: bench_runs_query, 4: bench_fresh_process,
    5: bench_fingerprint, 6: bench_log_model, 7: bench_environment,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser("Measure what tracking costs with nbmlops, side by side with MLflow.",
                          "fewer repetitions and fewer MLflow runs (about two minutes)")
    parser.add_argument("--skip-mlflow", action="store_true",
                        help="measure nbmlops only (MLflow columns show n/a)")
    parser.add_argument("--only", metavar="N[,N...]",
                        help="run only these sections (1-7), e.g. --only 1,3")
    parser.add_argument("--reps", type=int, metavar="N",
                        help="timed %%%%track cells per variant in section 1 (default 200, "
                             "50 with --quick)")
    parser.add_argument("--runs", type=int, metavar="N",
                        help="nbmlops runs to query in section 3 (default 2000)")
    parser.add_argument("--mlflow-runs", type=int, metavar="N",
                        help="MLflow runs to query in section 3 (default 2000, 300 with "
                             "--quick; figures are scaled to --runs when they differ)")
    parser.add_argument("--journal-off", action="store_true",
                        help="section 1 with the cell journal off (%%%%nbmlops journal off); "
                             "by default it is on, as for a user")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of tracked cells (section 1's cells)")
    args = parse_bench_args(parser, argv)
    try:
        args.sections = (sorted({int(s) for s in args.only.split(",")}) if args.only
                         else list(SECTIONS))
    except ValueError:
        parser.error("--only takes section numbers such as 1,3,5")
    if not set(args.sections) <= set(SECTIONS):
        parser.error("sections are numbered 1 to 7")
    return args


def print_header(b: Bench) -> None:
    mlflow_version = version_of("mlflow")
    if b.args.skip_mlflow:
        mlflow_version += " (skipped: --skip-mlflow)"
    elif not b.use_mlflow:
        mlflow_version += " (cannot be imported: MLflow columns show n/a)"
    say_header("nbmlops tracking overhead benchmark", b.quick, [
        ("MLflow", mlflow_version), ("pandas", version_of("pandas")),
        ("scikit-learn", version_of("scikit-learn")), ("IPython", version_of("ipython")),
    ], [
        temp_dir_field(b.root, b.args.keep),
        ("sections", ", ".join(map(str, b.args.sections))),
    ])
    say()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body(b: Bench) -> int:
        print_header(b)
        run = run_sections(((n, BENCHES[n]) for n in args.sections), b)
        if args.profile:
            profile_track_cell(b)
        say_summary(b.quick, run.started, load=False)
        print_summary(b.rows)
        return run.status

    def env(root: Path) -> dict[str, str]:  # set before nbmlops, IPython or MLflow read them
        return {"IPYTHONDIR": str(root / "ipython"), **MLFLOW_QUIET_ENV,
                "PYTHONWARNINGS": "ignore"}

    # Bench points nbmlops at a store of its own in the temp dir
    return run_in_workspace("nbmlops-bench-", lambda root: Bench(args, root), body,
                            keep=args.keep, env=env, nbmlops_store=False, tmp=False)


if __name__ == "__main__":
    sys.exit(main())
