"""What a job run costs: ``nbmlops jobs run`` side by side with bare papermill.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/jobs.py              # full run, 3-5 minutes on 2 cores
    .venv/bin/python bench/jobs.py --quick      # 2 repetitions, not 5 (~1.5 minutes)
    .venv/bin/python bench/jobs.py --reps 9     # more repetitions

The notebook, the same for both: ``%load_ext nbmlops``; a cell tagged ``parameters``
(``C = 1.0``, ``n = 2000``); a cell importing NumPy and scikit-learn and generating
``make_classification(n, 20, random_state=0)`` split 75/25; a ``%%track`` cell fitting a
``LogisticRegression(C=C, max_iter=1000)`` and binding ``accuracy``; a cell printing it.
It is exported once, untimed, with ``nbmlops export train.ipynb --job bench --gate
"metrics.accuracy>=0.5"``, and then run with ``C=0.5`` by each side, as a subprocess:

* nbmlops: ``nbmlops jobs run jobs/bench -p C=0.5`` (what a user or cron runs: it records
  the job run, injects the parameters, runs papermill in a kernel, reads the runs the
  notebook recorded, checks the gate, keeps the executed notebook as an artifact);
* papermill: ``papermill train.ipynb out.ipynb -p C 0.5 -k python3 --no-progress-bar``
  (the flags nbmlops passes it too) on the same notebook. Its kernel still runs
  ``%load_ext nbmlops`` and the tracked cell, so the notebook's own work is identical: the
  difference is nbmlops' job machinery.

Sections (each prints its details; a summary table closes the run):

1. Wall time of one run, from launching the command to its exit, and the CPU time (user +
   system) of each side's processes: all of them, papermill and its kernel, and nbmlops'
   runner process alone (read from ``/proc`` while the exited process is not yet reaped;
   CPU time stays meaningful when other work loads the machine). The overhead is the
   median nbmlops run over the median papermill run, minus one; the target is <= 10%.
2. Where the time goes (medians): from launch to the start of papermill's execution, the
   execution itself, and from its end to the exit, from papermill's own timestamps in the
   executed notebook and the job run's start and end in the store.
3. Checks, not timed: every command exited 0; the store holds a finished job run for
   every ``nbmlops jobs run``, each with one finished child cell run, and a cell run for
   every papermill run; every one of them recorded the same accuracy.

The runs take turns after an untimed warm-up of each (the order reversed every other
repetition, so drift in machine load hits both alike). The lineage store (SQLite) and its
artifacts, the project folder (the working directory, outside git) and the executed
notebooks live in a fresh temporary directory, deleted at the end unless ``--keep`` is
given. Timings are wall-clock and indicative: the kernel start dominates both sides, and
other work on the machine shows up in them (the load average is printed at the top and
the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
from _harness import (
    BenchContext,
    alternate,
    bench_parser,
    field_line,
    fmt_cell,
    fmt_s,
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

JOB = "bench"
GATE = "metrics.accuracy>=0.5"
PARAMS = {"C": "0.5"}  # what each run is given (the default in the notebook is 1.0)
TARGET_OVERHEAD = 0.10
RUN_TIMEOUT = 600.0  # seconds for one run before it is stopped
NOTEBOOK_CELLS: list[tuple[str, str, list[str]]] = [  # (cell type, source, tags)
    ("markdown", "# Churn model\n\nA small training notebook, run as a job.", []),
    ("code", "%load_ext nbmlops", []),
    ("code", "C = 1.0\nn = 2000", ["parameters"]),
    ("code", "import numpy as np\n"
             "from sklearn.datasets import make_classification\n"
             "from sklearn.linear_model import LogisticRegression\n"
             "from sklearn.model_selection import train_test_split\n\n"
             "X, y = make_classification(n_samples=n, n_features=20, n_informative=8,\n"
             "                           random_state=0)\n"
             "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,\n"
             "                                                    random_state=0)\n"
             "print(X_train.shape, np.bincount(y_train))", []),
    ("code", "%%track --name fit\n"
             "model = LogisticRegression(C=C, max_iter=1000).fit(X_train, y_train)\n"
             "accuracy = model.score(X_test, y_test)", []),
    ("code", "print(f\"accuracy {accuracy:.3f}\")", []),
]


def fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


# -- running a command, timed ------------------------------------------------------------

PROC_STAT = Path("/proc/self/stat").exists()


@dataclass
class Sample:
    """One run of one side: wall time, CPU times, what it printed."""

    side: str  # "nb" | "pm"
    wall: float
    launched: float  # time.time() at launch and at exit
    exited: float
    status: int
    cpu_all: float | None  # the process and every descendant it waited for
    cpu_own: float | None  # the process alone (Linux /proc)
    output: str
    notebook: Path | None = None  # the executed notebook
    run_id: str | None = None  # nbmlops: the job run's id (its first 8 characters)

    @property
    def cpu_children(self) -> float | None:
        if self.cpu_all is None or self.cpu_own is None:
            return None
        return max(self.cpu_all - self.cpu_own, 0.0)


def own_cpu(pid: int) -> float | None:
    """User + system CPU time of the process alone (it may be a zombie: not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime


def run_timed(side: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> Sample:
    """Run ``cmd`` in a session of its own, timed from launch to exit; its CPU time from
    ``wait4`` (every descendant it waited for: papermill waits for its kernel) and, on
    Linux, its own from ``/proc`` between its exit and its reaping."""
    with tempfile.TemporaryFile() as out:
        launched, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        # SIGTERM: nbmlops' runner stops papermill and its kernel and records the job
        # as failed; SIGKILL 15 s later
        timer = threading.Timer(RUN_TIMEOUT, stop_group, (proc.pid,))
        timer.daemon = True
        timer.start()
        own = None
        try:
            if PROC_STAT and hasattr(os, "waitid"):
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
                wall, exited = time.perf_counter() - t0, time.time()
                own = own_cpu(proc.pid)
                _, status, usage = os.wait4(proc.pid, 0)
            else:
                _, status, usage = os.wait4(proc.pid, 0)
                wall, exited = time.perf_counter() - t0, time.time()
        except BaseException:  # ^C: stop it and whatever it started
            stop_group(proc.pid)
            with contextlib.suppress(Exception):
                proc.wait(5)
            raise
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not Popen
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Sample(side, wall, launched, exited, proc.returncode,
                  usage.ru_utime + usage.ru_stime, own, text)


# -- the benchmark context ----------------------------------------------------------------

@dataclass
class Row:
    """One line of the summary table: seconds (smaller is better), or a text."""

    measure: str
    nb: float | str | None
    pm: float | str | None
    target: str = "-"
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        """nbmlops / papermill (above 1: nbmlops takes longer)."""
        if not isinstance(self.nb, float) or not isinstance(self.pm, float) or self.pm <= 0:
            return None
        return self.nb / self.pm


def print_summary(rows: list[Row]) -> None:
    print_table(("measure", "nbmlops", "papermill", "ratio", "target", "met?"),
                [(row.measure, fmt_cell(row.nb, none="-"), fmt_cell(row.pm, none="-"),
                  "-" if row.ratio is None else f"{row.ratio:.3f}x ({row.ratio - 1:+.1%})",
                  row.target, met_cell(row.target, row.met))
                 for row in rows], right={1, 2, 3},
                targets=((row.target, row.met) for row in rows),
                notes=["ratio = nbmlops / papermill (the overhead in brackets: above 0, "
                       "nbmlops takes longer); times are medians over the repetitions."])


class Bench(BenchContext):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        super().__init__(args, root)
        self.reps: int = args.reps or (2 if self.quick else 5)
        self.outputs = root / "papermill"
        self.outputs.mkdir()
        self.notebook = self.project / "train.ipynb"
        self.folder = self.project / "jobs" / JOB
        bin_dir = Path(sys.executable).parent
        self.nbmlops_cmd = str(bin_dir / "nbmlops")
        self.papermill_cmd = str(bin_dir / "papermill")
        for cmd in (self.nbmlops_cmd, self.papermill_cmd):
            if not Path(cmd).is_file():
                raise SystemExit(f"{cmd} not found: run this with the project's virtualenv "
                                 "(.venv/bin/python bench/jobs.py)")
        self.env = dict(os.environ)
        self.samples: dict[str, list[Sample]] = {"nb": [], "pm": []}  # timed runs
        self.warm: dict[str, Sample] = {}
        self.rows: list[Row] = []
        self.export_seconds: float | None = None
        self.count = 0  # papermill outputs written

    # -- the two commands ----------------------------------------------------------------
    def run_nbmlops(self) -> Sample:
        cmd = [self.nbmlops_cmd, "jobs", "run", str(self.folder)]
        for k, v in PARAMS.items():
            cmd += ["-p", f"{k}={v}"]
        s = run_timed("nb", cmd, self.project, self.env)
        found = re.search(r"\(run ([0-9a-f]{8})", s.output)
        s.run_id = found.group(1) if found else None
        executed = re.search(r"executed notebook: (\S+\.ipynb)", s.output)
        s.notebook = Path(executed.group(1)) if executed else None
        return s

    def run_papermill(self) -> Sample:
        self.count += 1
        out = self.outputs / f"out-{self.count:02d}.ipynb"
        cmd = [self.papermill_cmd, str(self.notebook), str(out)]
        for k, v in PARAMS.items():
            cmd += ["-p", k, v]
        cmd += ["-k", "python3", "--no-progress-bar"]
        s = run_timed("pm", cmd, self.project, self.env)
        s.notebook = out
        return s

    def run(self, side: str) -> Sample:
        s = self.run_nbmlops() if side == "nb" else self.run_papermill()
        if s.status != 0:
            say(f"    WARNING: {LABELS[side]} exited with status {s.status}; it printed:")
            say(textwrap.indent(s.output.strip()[-3000:], "      "))
        return s


LABELS = {"nb": "nbmlops jobs run", "pm": "papermill"}


# -- setup ---------------------------------------------------------------------------------

def write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for kind, source, tags in NOTEBOOK_CELLS:
        cell = (nbformat.v4.new_code_cell(source) if kind == "code"
                else nbformat.v4.new_markdown_cell(source))
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, path)


def setup(b: Bench) -> None:
    import nbformat

    write_notebook(b.notebook)
    cmd = [b.nbmlops_cmd, "export", str(b.notebook), "--job", JOB, "--gate", GATE]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=b.project, env=b.env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    b.export_seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"nbmlops export failed (exit status {done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")
    say(field_line("exported", f"in {fmt_s(b.export_seconds)} (untimed):"))
    say(textwrap.indent(done.stdout.strip(), "                  "))
    source = nbformat.read(b.notebook, as_version=4)
    exported = nbformat.read(b.folder / "notebook.ipynb", as_version=4)
    same = [c.source for c in source.cells] == [c.source for c in exported.cells]
    say(field_line("notebooks", f"the job's notebook and {b.notebook.name} hold "
                   + ("the same cells" if same else "DIFFERENT cells")))
    say()


# -- 1. wall and CPU time ------------------------------------------------------------------

def cpu_median(samples: list[Sample], what: Callable[[Sample], float | None]) -> float | None:
    values = [v for v in (what(s) for s in samples) if v is not None]
    return median(values) if values else None


def bench_runs(b: Bench) -> None:
    say(f"[1] one job run with {', '.join(f'{k}={v}' for k, v in PARAMS.items())}, from "
        f"launch to exit ({b.reps} interleaved repetitions after an untimed warm-up of each)")
    for side in ("nb", "pm"):
        s = b.run(side)
        b.warm[side] = s
    say(f"    warm-up: nbmlops {fmt_s(b.warm['nb'].wall)}, papermill "
        f"{fmt_s(b.warm['pm'].wall)}  (load {load_average()})")
    for rep in range(b.reps):
        order = alternate(("nb", "pm"), rep)
        for side in order:
            b.samples[side].append(b.run(side))
        nb, pm = b.samples["nb"][-1], b.samples["pm"][-1]
        say(f"    rep {rep + 1}/{b.reps} ({' then '.join(LABELS[k].split()[0] for k in order)})"
            f": nbmlops {fmt_s(nb.wall)} (CPU {fmt_s(nb.cpu_all)}), papermill "
            f"{fmt_s(pm.wall)} (CPU {fmt_s(pm.cpu_all)}), ratio {nb.wall / pm.wall:.3f}  "
            f"(load {load_average()})")
    nbs, pms = b.samples["nb"], b.samples["pm"]
    nb_wall, pm_wall = median([s.wall for s in nbs]), median([s.wall for s in pms])
    overhead = nb_wall / pm_wall - 1
    for label, xs in (("nbmlops jobs run", nbs), ("papermill", pms)):
        walls = [s.wall for s in xs]
        say(f"    {label:<17} median {fmt_s(median(walls)):>8}  min {fmt_s(min(walls)):>8}  "
            f"max {fmt_s(max(walls)):>8}")
    min_ratio = min(s.wall for s in nbs) / min(s.wall for s in pms) - 1
    pairs = [n.wall / p.wall - 1 for n, p in zip(nbs, pms, strict=True)]
    say(f"    overhead          {fmt_pct(overhead)} of the median (min vs min "
        f"{fmt_pct(min_ratio)}; median of the repetitions' own ratios {fmt_pct(median(pairs))})"
        f"; target <= {TARGET_OVERHEAD:.0%}")
    nb_all, pm_all = cpu_median(nbs, lambda s: s.cpu_all), cpu_median(pms, lambda s: s.cpu_all)
    nb_kids = cpu_median(nbs, lambda s: s.cpu_children)
    nb_own = cpu_median(nbs, lambda s: s.cpu_own)
    pm_own = cpu_median(pms, lambda s: s.cpu_own)
    pm_kids = cpu_median(pms, lambda s: s.cpu_children)
    say(f"    CPU time (user + system, medians): nbmlops {fmt_s(nb_all)} in all = its runner "
        f"{fmt_s(nb_own)} + papermill and the kernel {fmt_s(nb_kids)}; papermill "
        f"{fmt_s(pm_all)} in all = papermill {fmt_s(pm_own)} + the kernel {fmt_s(pm_kids)}")
    if nb_all is not None and pm_all is not None:
        say(f"    CPU overhead      {fmt_pct(nb_all / pm_all - 1)} (nbmlops' extra CPU time "
            f"{fmt_s(nb_all - pm_all)}, {fmt_pct((nb_all - pm_all) / pm_wall)} of papermill's "
            "median wall time)")
    b.rows += [
        Row(f"wall time, one run (median of {b.reps})", nb_wall, pm_wall,
            target=f"<= {1 + TARGET_OVERHEAD:.2f}x", met=overhead <= TARGET_OVERHEAD),
        Row("wall time, fastest run", min(s.wall for s in nbs), min(s.wall for s in pms)),
        Row("CPU time, all processes", nb_all, pm_all),
        Row("CPU time, papermill + kernel", nb_kids, pm_all),
        Row("CPU time, nbmlops' runner process alone", nb_own, None),
    ]


# -- 2. where the time goes ----------------------------------------------------------------

def stamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def papermill_times(path: Path | None) -> tuple[float | None, float | None]:
    """Papermill's own start and end of execution, from the executed notebook."""
    if path is None or not path.is_file():
        return None, None
    try:
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return None, None
    return stamp(meta.get("start_time")), stamp(meta.get("end_time"))


@dataclass
class Phases:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, a: float | None, b: float | None) -> None:
        if a is not None and b is not None:
            self.values.setdefault(name, []).append(b - a)

    def med(self, name: str) -> float | None:
        xs = self.values.get(name)
        return median(xs) if xs else None


def bench_phases(b: Bench) -> None:
    import nbmlops

    say("[2] where the time goes (medians over the repetitions; papermill's start and end "
        "of execution from the executed notebook's metadata, the job run's from the store)")
    nb, pm = Phases(), Phases()
    for s in b.samples["pm"]:
        start, end = papermill_times(s.notebook)
        pm.add("before", s.launched, start)
        pm.add("execute", start, end)
        pm.add("after", end, s.exited)
    jobs = {row.run_id: row for row in nbmlops.runs(kind="job").itertuples()}
    for s in b.samples["nb"]:
        start, end = papermill_times(s.notebook)
        nb.add("before", s.launched, start)
        nb.add("execute", start, end)
        nb.add("after", end, s.exited)
        full = next((k for k in jobs if s.run_id and k.startswith(s.run_id)), None)
        if full is None:
            continue
        run = nbmlops.get_run(full)
        r0 = run.start_time.timestamp()
        r1 = run.end_time.timestamp() if run.end_time is not None else None
        nb.add("start", s.launched, r0)
        nb.add("to papermill", r0, start)
        nb.add("from papermill", end, r1)
        nb.add("exit", r1, s.exited)

    def line(label: str, a: float | None, p: float | None, indent: str = "") -> None:
        diff = "" if a is None or p is None else f"{a - p:+.2f} s"
        say(f"    {indent + label:<62} {fmt_s(a):>8} {fmt_s(p) if p is not None else '-':>9}"
            f" {diff:>9}")

    say(f"    {'':<62} {'nbmlops':>8} {'papermill':>9} {'extra':>9}")
    line("launch -> papermill starts executing", nb.med("before"), pm.med("before"))
    line("interpreter, imports, store, job.yaml -> job run starts", nb.med("start"), None,
         "  ")
    line("job run starts -> papermill starts executing", nb.med("to papermill"), None, "  ")
    say("      (the injected notebook written, `python -m papermill` started: its imports)")
    line("papermill executing: kernel start, cells", nb.med("execute"), pm.med("execute"))
    line("papermill's execution ends -> exit", nb.med("after"), pm.med("after"))
    line("papermill ends -> job run ends (artifact, child runs, gate)",
         nb.med("from papermill"), None, "  ")
    line("job run ends -> exit (store closed, interpreter exit)", nb.med("exit"), None, "  ")
    nb_wall = median([s.wall for s in b.samples["nb"]])
    pm_wall = median([s.wall for s in b.samples["pm"]])
    line("launch -> exit (wall time)", nb_wall, pm_wall)
    for key, label in (("before", "before papermill executes"),
                       ("execute", "papermill's execution"), ("after", "after it")):
        a, p = nb.med(key), pm.med(key)
        if a is not None and p is not None:
            b.rows.append(Row(f"  {label}", a, p))


# -- 3. checks ------------------------------------------------------------------------------

def bench_check(b: Bench) -> None:
    import nbmlops

    say("[3] checks (not timed): exit statuses, and what the store holds")
    nb_runs = [b.warm["nb"], *b.samples["nb"]]
    pm_runs = [b.warm["pm"], *b.samples["pm"]]
    nb_exit = sum(s.status == 0 for s in nb_runs)
    pm_exit = sum(s.status == 0 for s in pm_runs)
    jobs = nbmlops.runs(kind="job")
    cells = nbmlops.runs(kind="cell")
    children: set[str] = set()
    good_jobs = 0
    accuracies: dict[str, list[float]] = {"nb": [], "pm": []}
    for s in nb_runs:
        match = jobs[jobs["run_id"].str.startswith(s.run_id)] if s.run_id else jobs.iloc[:0]
        if len(match) != 1:
            say(f"    nbmlops run {s.run_id}: {len(match)} job runs found in the store")
            continue
        job = match.iloc[0]
        kids = nbmlops.runs(kind="cell", where=f"parent == '{job['run_id']}'")
        children |= set(kids["run_id"])
        ok = (job["status"] == "finished" and len(kids) == 1
              and set(kids["status"]) == {"finished"})
        good_jobs += ok
        if not ok:
            say(f"    job run {job['run_id'][:8]}: status {job['status']}, {len(kids)} child "
                f"runs ({sorted(set(kids['status']))})")
        if "metrics.accuracy" in kids:
            accuracies["nb"] += [float(x) for x in kids["metrics.accuracy"].dropna()]
    lone = cells[~cells["run_id"].isin(children)]
    good_pm = int((lone["status"] == "finished").sum())
    if "metrics.accuracy" in lone:
        accuracies["pm"] += [float(x) for x in lone["metrics.accuracy"].dropna()]
    say(f"    nbmlops jobs run  {nb_exit} of {len(nb_runs)} exited 0; {len(jobs)} job runs in "
        f"the store, {good_jobs} of {len(nb_runs)} finished with one finished child cell run")
    say(f"    papermill         {pm_exit} of {len(pm_runs)} exited 0; {good_pm} finished cell "
        f"runs without a parent (one expected per run: {len(pm_runs)})")
    values = sorted(set(accuracies["nb"]) | set(accuracies["pm"]))
    same = (len(values) == 1 and len(accuracies["nb"]) == len(nb_runs)
            and len(accuracies["pm"]) == len(pm_runs))
    say(f"    accuracy          {', '.join(f'{v:.4f}' for v in values) or 'none'} "
        f"({'the same in every run' if same else 'NOT the same in every run'})")
    all_nb = nb_exit == len(nb_runs) and good_jobs == len(nb_runs)
    all_pm = pm_exit == len(pm_runs) and good_pm == len(pm_runs)
    b.rows += [
        Row("runs that exited 0 and were recorded", f"{min(nb_exit, good_jobs)} of "
            f"{len(nb_runs)}", f"{min(pm_exit, good_pm)} of {len(pm_runs)}", target="all",
            met=all_nb and all_pm),
        Row("accuracy recorded (C=0.5)",
            f"{accuracies['nb'][0]:.4f}" if accuracies["nb"] else "none",
            f"{accuracies['pm'][0]:.4f}" if accuracies["pm"] else "none",
            target="identical", met=same),
    ]


# -- main ---------------------------------------------------------------------------------------

SECTIONS: list[tuple[int, Callable[[Bench], None]]] = [
    (1, bench_runs), (2, bench_phases), (3, bench_check)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser("`nbmlops jobs run` side by side with bare papermill on one notebook.",
                          "2 repetitions instead of 5")
    parser.add_argument("--reps", type=int, metavar="N",
                        help="interleaved repetitions of each (default 5, 2 with --quick)")
    args = parse_bench_args(parser, argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps takes a positive number")
    return args


def print_header(b: Bench) -> None:
    say_header("nbmlops jobs benchmark", b.quick, [
        ("papermill", f"{version_of('papermill')}  (nbclient {version_of('nbclient')}, "
                      f"jupyter_client {version_of('jupyter_client')}, ipykernel "
                      f"{version_of('ipykernel')})"),
        ("scikit-learn", f"{version_of('scikit-learn')}  (NumPy {version_of('numpy')})"),
    ], [
        ("notebook", f"{b.notebook.name}: %load_ext nbmlops, parameters C=1.0 n=2000, "
                     "make_classification, %%track LogisticRegression"),
        ("nbmlops", f"nbmlops jobs run jobs/{JOB} -p C=0.5  (gate {GATE})"),
        ("papermill", "papermill train.ipynb out.ipynb -p C 0.5 -k python3 --no-progress-bar"),
        ("repetitions", f"{b.reps} of each, interleaved, after an untimed warm-up of each"),
        ("CPU times", "wait4 and /proc" if PROC_STAT else "wait4 only (no /proc)"),
        temp_dir_field(b.root, b.args.keep),
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body(b: Bench) -> int:
        print_header(b)
        setup(b)
        run = run_sections(SECTIONS, b, fatal={1})  # no runs: nothing else to look at
        say_summary(b.quick, run.started, detail=f"{b.reps} repetitions, ")
        print_summary(b.rows)
        return run.status

    # NBMLOPS_STORE and the rest are set before nbmlops is imported (every nbmlops import
    # here is inside a function); the commands inherit them
    return run_in_workspace("nbmlops-bench-jobs-", lambda root: Bench(args, root), body,
                            keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
