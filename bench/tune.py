"""What ``%tune`` costs: ``nbmlops.tune`` next to the scikit-learn search it wraps, and
how the strategies compare on the same problem.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/tune.py                 # full run, several minutes on 2 cores
    .venv/bin/python bench/tune.py --quick         # smaller forests (10/20/40 trees)
    .venv/bin/python bench/tune.py --skip-optuna   # no Optuna section
    .venv/bin/python bench/tune.py --reps 5 --n-jobs 4

The problem: ``make_classification(5000, 20, random_state=0)`` and a RandomForestClassifier
grid of 12 candidates (n_estimators [50, 100, 200] x max_depth [None, 10] x
min_samples_leaf [1, 4]) scored with 5-fold cross-validation (accuracy), refitting the best.

Sections (each prints its details; a summary table closes the run):

1. ``nbmlops.tune(strategy="grid", n_jobs=N)`` vs a bare ``GridSearchCV(n_jobs=N)``, run
   interleaved (alternating which goes first) over several repetitions after an untimed
   warm-up of each: medians, the overhead (target <= 5%), and whether ``best_params_``,
   ``best_score_`` and every candidate's mean score are identical.
2. Successive halving vs grid, both through ``nbmlops.tune``: time and best score.
3. Optuna (TPE) with 12 trials vs grid, both through ``nbmlops.tune``: time and best score.

nbmlops records every search (one parent run, one run per candidate) in a SQLite store in a
fresh temporary directory, which is also the working directory (a project folder outside
git); it is deleted at the end unless ``--keep`` is given. Searches show their progress as
usual; it is captured, not printed. Timings are wall-clock and indicative: other work on
the machine shows up in them (the load average is printed at the top and the end).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
import _harness
from _harness import (
    BenchContext,
    alternate,
    bench_parser,
    load_average,
    median,
    met_cell,
    parse_bench_args,
    print_table,
    quiet,
    run_in_workspace,
    run_sections,
    say,
    say_header,
    say_summary,
    temp_dir_field,
    timed,
    usable_cpus,
    version_of,
)

N_SAMPLES, N_FEATURES, FOLDS = 5000, 20, 5
TARGET_OVERHEAD = 0.05


def grid(quick: bool) -> dict[str, list[Any]]:
    return {"n_estimators": [10, 20, 40] if quick else [50, 100, 200],
            "max_depth": [None, 10], "min_samples_leaf": [1, 4]}


# -- small helpers --------------------------------------------------------------------------

def fmt_s(seconds: float | None) -> str:
    """A duration with a unit that keeps 2-3 significant digits (never µs: milliseconds)."""
    return _harness.fmt_s(seconds, micro=False)


def fmt_score(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.4f}"


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time, and CPU time of this process alone (the fits run in worker processes,
    so this is the search's own bookkeeping: dispatching, collecting, recording)."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - t0, time.process_time() - c0, result


# -- results ----------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the summary table: a measured search against a baseline search."""

    measure: str
    time: float | None
    base_time: float | None = None
    score: float | None = None
    base_score: float | None = None
    target_text: str | None = None
    target_met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.time is None or not self.base_time:
            return None
        return self.time / self.base_time


def print_summary(rows: list[Row]) -> None:
    lines = []
    for row in rows:
        ratio = row.ratio
        lines.append((row.measure, fmt_s(row.time) if row.time is not None else "-",
                      fmt_s(row.base_time) if row.base_time is not None else "-",
                      "-" if ratio is None else f"{ratio:.3f}x",
                      fmt_score(row.score) if row.score is not None else "-",
                      fmt_score(row.base_score) if row.base_score is not None else "-",
                      row.target_text or "-", met_cell(row.target_text, row.target_met)))
    print_table(("measure", "time", "baseline", "ratio", "best score", "baseline", "target",
                 "met?"), lines, right={1, 2, 3, 4, 5},
                targets=((row.target_text, row.target_met) for row in rows),
                notes=["ratio = time / baseline time (below 1: faster than the baseline). "
                       "Scores are mean 5-fold accuracy of the best candidate;",
                       "halving scores its last round, on the resources it reached, so its "
                       "score is comparable only roughly."])


# -- the benchmark context ----------------------------------------------------------------

class Bench(BenchContext):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        from sklearn.datasets import make_classification

        super().__init__(args, root)
        self.rows: list[Row] = []
        self.n_jobs: int = args.n_jobs
        self.reps: int = args.reps
        self.grid = grid(self.quick)
        self.X, self.y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES,
                                             random_state=0)
        self.grid_times: list[float] = []  # nbmlops grid searches, for sections 2 and 3
        self.grid_score: float | None = None
        self.grid_params: dict[str, Any] | None = None

    @property
    def n_candidates(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n

    def forest(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(random_state=0, n_jobs=1)

    def tune(self, strategy: str, space: dict[str, list[Any]] | None = None,
             **kwargs: Any) -> Any:
        import nbmlops

        with quiet(stderr=False):  # the search's progress lines and warnings
            return nbmlops.tune(self.forest(), space or self.grid, self.X, self.y, cv=FOLDS,
                                scoring="accuracy", strategy=strategy, n_jobs=self.n_jobs,
                                experiment="bench-tune", name=strategy, **kwargs)

    def sklearn_grid(self, space: dict[str, list[Any]] | None = None) -> Any:
        from sklearn.model_selection import GridSearchCV

        with quiet(stderr=False):
            return GridSearchCV(self.forest(), space or self.grid, cv=FOLDS,
                                scoring="accuracy", n_jobs=self.n_jobs).fit(self.X, self.y)

    def children(self, run_id: str) -> Any:
        import nbmlops

        return nbmlops.runs(kind="candidate", where=f"parent == '{run_id}'")


# -- 1. nbmlops.tune vs GridSearchCV -------------------------------------------------------

def bench_grid_overhead(b: Bench) -> None:
    import numpy as np

    say(f"[1] grid search, {b.n_candidates} candidates x {FOLDS} folds, n_jobs={b.n_jobs}: "
        f"nbmlops.tune vs GridSearchCV ({b.reps} interleaved repetitions after an untimed "
        "warm-up of each)")
    tiny = {"n_estimators": [5], "max_depth": [4, 8]}
    warm_nb, _ = timed(lambda: b.tune("grid", tiny))
    warm_sk, _ = timed(lambda: b.sklearn_grid(tiny))
    say(f"    warm-up, a 2-candidate search of 5-tree forests (starts the worker pool, opens "
        f"the store): nbmlops {fmt_s(warm_nb)}, GridSearchCV {fmt_s(warm_sk)}")
    nb_times: list[float] = []
    sk_times: list[float] = []
    nb_cpu: list[float] = []
    sk_cpu: list[float] = []
    last_nb = last_sk = None
    for rep in range(b.reps):
        order = alternate(("nb", "sk"), rep)
        for which in order:
            if which == "nb":
                seconds, cpu, last_nb = timed_cpu(lambda: b.tune("grid"))
                nb_times.append(seconds)
                nb_cpu.append(cpu)
            else:
                seconds, cpu, last_sk = timed_cpu(b.sklearn_grid)
                sk_times.append(seconds)
                sk_cpu.append(cpu)
        say(f"    rep {rep + 1}/{b.reps} ({' then '.join(order)}): nbmlops "
            f"{fmt_s(nb_times[-1])}, GridSearchCV {fmt_s(sk_times[-1])}  "
            f"(load {load_average()})")
    assert last_nb is not None
    assert last_sk is not None
    nb, sk = median(nb_times), median(sk_times)
    overhead = nb / sk - 1
    say(f"    nbmlops.tune   median {fmt_s(nb):>9}  min {fmt_s(min(nb_times)):>9}  "
        f"max {fmt_s(max(nb_times)):>9}")
    say(f"    GridSearchCV   median {fmt_s(sk):>9}  min {fmt_s(min(sk_times)):>9}  "
        f"max {fmt_s(max(sk_times)):>9}")
    say(f"    overhead       {overhead:+.1%} of the median (min vs min: "
        f"{min(nb_times) / min(sk_times) - 1:+.1%}); target <= {TARGET_OVERHEAD:.0%}")
    own = median(nb_cpu) - median(sk_cpu)
    say(f"    CPU time of this process (the workers' fits excluded), median: nbmlops "
        f"{fmt_s(median(nb_cpu))}, GridSearchCV {fmt_s(median(sk_cpu))}"
        f": nbmlops' own work {fmt_s(own)} = {own / sk:+.1%} of GridSearchCV's wall time "
        "(what is left of the overhead without other load)")

    search = last_nb.search
    same_params = search.best_params_ == last_sk.best_params_
    same_score = search.best_score_ == last_sk.best_score_
    same_all = bool(np.array_equal(search.cv_results_["mean_test_score"],
                                   last_sk.cv_results_["mean_test_score"]))
    say(f"    best_params_ {'identical' if same_params else 'DIFFER'}: {search.best_params_}"
        + ("" if same_params else f" vs {last_sk.best_params_}"))
    say(f"    best_score_  {'identical' if same_score else 'DIFFER'}: {search.best_score_!r}"
        + ("" if same_score else f" vs {last_sk.best_score_!r}"))
    say(f"    every candidate's mean score {'identical' if same_all else 'DIFFERS'}")
    kids = b.children(last_nb.run_id)
    recorded = (len(kids) == b.n_candidates and set(kids["status"]) == {"finished"}
                and last_nb.best_params == last_sk.best_params_)
    say(f"    (checked: the last search recorded {len(kids)} finished candidate runs and "
        f"its result's best_params {'match' if recorded else 'DO NOT match'})" if recorded
        else f"    WARNING: the last search recorded {len(kids)} candidate runs "
        f"(statuses {sorted(set(kids['status']))}), expected {b.n_candidates} finished")

    b.grid_times = nb_times
    b.grid_score = float(search.best_score_)
    b.grid_params = dict(last_nb.best_params)
    b.rows.append(Row(f"grid: nbmlops.tune vs GridSearchCV (n_jobs={b.n_jobs}, median "
                      f"of {b.reps})", nb, sk, float(search.best_score_),
                      float(last_sk.best_score_), f"overhead <= {TARGET_OVERHEAD:.0%}",
                      overhead <= TARGET_OVERHEAD))
    b.rows.append(Row("grid: same best_params_, best_score_, cv scores", None,
                      target_text="identical", target_met=same_params and same_score
                      and same_all))
    b.rows.append(Row("grid: CPU time of the calling process (median)",
                      median(nb_cpu), median(sk_cpu)))


def _grid_baseline(b: Bench) -> tuple[float, float]:
    """The nbmlops grid search's median time and best score (section 1's, or one run)."""
    if not b.grid_times or b.grid_score is None:
        seconds, result = timed(lambda: b.tune("grid"))
        b.grid_times, b.grid_score = [seconds], float(result.best_score)
        b.grid_params = dict(result.best_params)
        say(f"    grid baseline (one nbmlops.tune run, section 1 was skipped): "
            f"{fmt_s(seconds)}")
    return median(b.grid_times), b.grid_score


# -- 2. successive halving vs grid ---------------------------------------------------------

def bench_halving(b: Bench) -> None:
    reps = b.args.other_reps
    say(f"[2] successive halving vs grid, both nbmlops.tune (n_jobs={b.n_jobs}; halving: "
        f"median of {reps})")
    grid_t, grid_score = _grid_baseline(b)
    times = []
    result = None
    for _ in range(reps):
        seconds, result = timed(lambda: b.tune("halving", random_state=0))
        times.append(seconds)
    assert result is not None
    search = result.search
    rounds = [int(n) for n in search.n_resources_]
    candidates = [int(n) for n in search.n_candidates_]
    halving = median(times)
    say(f"    halving        median {fmt_s(halving):>9}  ({len(result.candidates)} candidate "
        f"evaluations over {len(rounds)} rounds: {candidates} candidates on {rounds} samples)")
    say(f"    grid           median {fmt_s(grid_t):>9}")
    say(f"    best: halving {fmt_score(result.best_score)} {dict(result.best_params)}; "
        f"grid {fmt_score(grid_score)} {b.grid_params}")
    b.rows.append(Row(f"halving vs grid (nbmlops.tune, median of {reps} vs "
                      f"{len(b.grid_times)})", halving, grid_t, result.best_score,
                      grid_score))


# -- 3. Optuna vs grid -------------------------------------------------------------------

def bench_optuna(b: Bench) -> None:
    trials = b.n_candidates
    reps = b.args.other_reps
    say(f"[3] Optuna (TPE, {trials} trials, seed 0) vs grid, both nbmlops.tune "
        f"(n_jobs={b.n_jobs} across each trial's {FOLDS} folds; Optuna: median of {reps})")
    grid_t, grid_score = _grid_baseline(b)
    times = []
    result = None
    for _ in range(reps):
        seconds, result = timed(lambda: b.tune("optuna", n_iter=trials, random_state=0))
        times.append(seconds)
    assert result is not None
    frame = result.candidates
    keys = [c for c in frame.columns if c.startswith("params.") and c != "params.model"]
    distinct = len(frame[keys].astype(str).drop_duplicates())
    optuna_t = median(times)
    say(f"    optuna         median {fmt_s(optuna_t):>9}  ({len(frame)} trials, {distinct} "
        f"distinct of the grid's {b.n_candidates} candidates)")
    say(f"    grid           median {fmt_s(grid_t):>9}")
    say(f"    best: optuna {fmt_score(result.best_score)} {dict(result.best_params)}; "
        f"grid {fmt_score(grid_score)} {b.grid_params}")
    b.rows.append(Row(f"optuna {trials} trials vs grid (nbmlops.tune, median of {reps} vs "
                      f"{len(b.grid_times)})", optuna_t, grid_t, result.best_score,
                      grid_score))


# -- main ----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    usable = usable_cpus()
    parser = bench_parser("nbmlops.tune vs scikit-learn's GridSearchCV; halving and Optuna "
                          "vs grid.",
                          "smaller forests (n_estimators 10/20/40 instead of 50/100/200)")
    parser.add_argument("--skip-optuna", action="store_true", help="leave out section 3")
    parser.add_argument("--reps", type=int, default=3, metavar="N",
                        help="interleaved repetitions of each grid search (default 3)")
    parser.add_argument("--other-reps", type=int, default=1, metavar="N",
                        help="repetitions of the halving and Optuna searches (default 1)")
    parser.add_argument("--n-jobs", type=int, default=usable, metavar="N",
                        help=f"fits in parallel, the same for every search (default: the "
                             f"CPUs usable here, {usable})")
    args = parse_bench_args(parser, argv)
    if args.reps < 1 or args.other_reps < 1:
        parser.error("--reps and --other-reps take a positive number")
    return args


def print_header(b: Bench) -> None:
    optuna = version_of("optuna") + (" (skipped: --skip-optuna)" if b.args.skip_optuna else "")
    say_header("nbmlops tune benchmark", b.quick, [
        ("scikit-learn", f"{version_of('scikit-learn')}  (joblib {version_of('joblib')})"),
        ("Optuna", optuna),
    ], [
        ("data", f"make_classification({N_SAMPLES}, {N_FEATURES}, random_state=0), "
                 f"{FOLDS}-fold CV, accuracy"),
        ("grid", f"RandomForestClassifier(random_state=0) x {b.grid}: "
                 f"{b.n_candidates} candidates"),
        ("n_jobs", f"{b.n_jobs} for every search"),
        temp_dir_field(b.root, b.args.keep),
    ])
    say()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections: list[tuple[int, Callable[[Bench], None]]] = [
        (1, bench_grid_overhead), (2, bench_halving)]
    if not args.skip_optuna:
        sections.append((3, bench_optuna))

    def body(b: Bench) -> int:
        print_header(b)
        run = run_sections(sections, b)
        say_summary(b.quick, run.started)
        print_summary(b.rows)
        return run.status

    # set before nbmlops is imported (every nbmlops import here is inside a function)
    return run_in_workspace("nbmlops-bench-tune-", lambda root: Bench(args, root), body,
                            keep=args.keep, env={"PYTHONWARNINGS": "ignore"}, tmp=False)


if __name__ == "__main__":
    sys.exit(main())
