"""What a drift check costs: ``nbmlops.drift`` side by side with Evidently and scipy.

Run by hand from the repository root (it is not a test)::

    .venv/bin/python bench/drift.py                  # full run, about 6 minutes on 2 cores
    .venv/bin/python bench/drift.py --quick          # 200,000 rows, about 1.5 minutes
    .venv/bin/python bench/drift.py --reps 9         # more repetitions of the fast calls
    .venv/bin/python bench/drift.py --skip-evidently # nbmlops and scipy only

The data, the same for every tool: a reference and a current DataFrame of 1,000,000 rows
(``--quick``: 200,000; ``--rows N``) and 20 float64 columns drawn with a seeded NumPy
generator (the reference and the current data from independent streams): ``x00`` ...
``x09`` normal, ``x10`` ... ``x14`` gamma, ``x15`` ... ``x19`` lognormal, each with its own
location and scale. In the current data five columns (``x01 x04 x07 x12 x17``: three
normal, one gamma, one lognormal) are shifted by 0.3 of their standard deviation, which
puts their normalised Wasserstein distance near 0.3; the other fifteen are drawn from the
reference's distributions (distance near 0.002). The check to pass: every tool finds
exactly the five shifted columns.

What is timed (wall-clock and the process's CPU time, every thread included):

* ``nbmlops.drift(reference, current, record=False)``: the default tests; with more than
  1,000 reference rows numeric columns get the Wasserstein distance over the reference's
  population standard deviation, drifted above 0.1 (nbmlops spreads the columns over up to
  ``min(columns, CPUs, 8)`` threads);
* the same with ``record=True``: the check recorded as a lineage run (both frames'
  fingerprints, metrics, ``drift.json`` and ``drift.html``) in a store in the temporary
  directory;
* ``nbmlops.drift(..., tests="ks", record=False)``: the Kolmogorov-Smirnov test on every
  column, next to the scipy loop doing the same;
* Evidently's default data-drift report on the same frames:
  ``Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)``
  (its defaults above 1,000 rows: the normed Wasserstein distance, threshold 0.1; the
  dataset drifts at a share of 0.5). Its drifted columns are read from the snapshot's
  ``ValueDrift`` results (drifted when the distance reaches the threshold, Evidently's
  rule) and checked against its ``DriftedColumnsCount``;
* what a user would hand-write: a loop over the columns of
  ``scipy.stats.wasserstein_distance(ref[c], cur[c]) / np.std(ref[c]) > 0.1``, and one of
  ``scipy.stats.ks_2samp(ref[c], cur[c]).pvalue < 0.05``.

Every call runs once untimed first (nbmlops on the full frames; Evidently and the scipy
loops, whose runs take tens of seconds or minutes, on the first 20,000 rows: imports and
first-call costs). Then rounds: in every round each call still owed a repetition runs once,
the order reversed every other round, so drift in machine load hits all alike; every
figure is the median over its repetitions. nbmlops' calls run ``--reps`` times (5, 3 with
``--quick``), the scipy loops ``min(reps, 3)`` times and Evidently ``--evidently-reps``
times (1 by default: one report on 1,000,000 rows takes minutes). The checks compare the
drifted columns and the statistics (nbmlops' and Evidently's distances against scipy's).

Evidently 0.7 imports ``pandas.core.dtypes.common.infer_dtype_from_object``, which pandas
3 removed; when it is missing the script puts a stand-in there before importing Evidently
(only Evidently's column-type test uses it, not its drift metrics) and says so. nbmlops'
store and artifacts and Python's temporary files live in a fresh temporary directory,
which is also the working directory; it is deleted at the end unless ``--keep`` is given.
Timings are wall-clock and indicative: other work on the machine shows up in them (the
load average is printed at the top and the end; the CPU times stay meaningful).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# run as a script, this file's folder is on sys.path: the harness the benchmarks share
from _harness import (
    BenchContext,
    alternate,
    bench_parser,
    fmt_cell,
    fmt_s,
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
    version_of,
)

ROWS, QUICK_ROWS = 1_000_000, 200_000
WARM_ROWS = 20_000  # the untimed first call of the slow tools
SEED = 20240611
SHIFT = 0.3  # in standard deviations of the column
SHIFTED = ("x01", "x04", "x07", "x12", "x17")
WASSERSTEIN_THRESHOLD, KS_ALPHA = 0.1, 0.05
TARGET_SECONDS, TARGET_RATIO = 2.0, 10.0
SCIPY_MAX_REPS = 3
NO_EQUIVALENT = "—"


# -- the data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    name: str
    family: str  # normal, gamma, lognormal
    a: float  # normal: mean; gamma: shape; lognormal: mu
    b: float  # normal: sd; gamma: scale; lognormal: sigma

    @property
    def sd(self) -> float:
        """The distribution's standard deviation (the shift is a share of it)."""
        if self.family == "normal":
            return self.b
        if self.family == "gamma":
            return math.sqrt(self.a) * self.b
        return math.sqrt((math.exp(self.b ** 2) - 1) * math.exp(2 * self.a + self.b ** 2))

    def describe(self) -> str:
        what = {"normal": "normal(mean {a:g}, sd {b:g})",
                "gamma": "gamma(shape {a:g}, scale {b:g})",
                "lognormal": "lognormal(mu {a:g}, sigma {b:g})"}[self.family]
        return what.format(a=self.a, b=self.b)

    def draw(self, rng: Any, rows: int) -> Any:
        if self.family == "normal":
            return rng.normal(self.a, self.b, rows)
        if self.family == "gamma":
            return rng.gamma(self.a, self.b, rows)
        return rng.lognormal(self.a, self.b, rows)


COLUMNS = (
    *(Column(f"x{i:02d}", "normal", mean, sd) for i, (mean, sd) in enumerate(
        [(0, 1), (10, 2), (-3, 0.5), (100, 15), (0.5, 0.1), (-40, 8), (2, 3), (1000, 250),
         (0, 0.01), (7, 1.5)])),
    *(Column(f"x{i:02d}", "gamma", shape, scale) for i, (shape, scale) in enumerate(
        [(1.5, 2), (2, 1), (3, 0.5), (5, 10), (9, 0.2)], start=10)),
    *(Column(f"x{i:02d}", "lognormal", mu, sigma) for i, (mu, sigma) in enumerate(
        [(0, 0.25), (1, 0.5), (2, 0.4), (-1, 0.6), (3, 0.3)], start=15)),
)


def make_frames(rows: int) -> tuple[Any, Any]:
    """The reference and the current data: independent draws, five columns shifted."""
    import numpy as np
    import pandas as pd

    ref_seed, cur_seed = np.random.SeedSequence(SEED).spawn(2)
    frames = []
    for seed, shift in ((ref_seed, False), (cur_seed, True)):
        rng = np.random.default_rng(seed)
        # column-major, so each column is one contiguous array, as read from Parquet
        values = np.empty((rows, len(COLUMNS)), dtype=np.float64, order="F")
        for j, col in enumerate(COLUMNS):
            values[:, j] = col.draw(rng, rows)
            if shift and col.name in SHIFTED:
                values[:, j] += SHIFT * col.sd
        frames.append(pd.DataFrame(values, columns=[c.name for c in COLUMNS], copy=False))
    return frames[0], frames[1]


# -- Evidently ----------------------------------------------------------------------------------

def import_evidently() -> tuple[Any, Any, bool]:
    """``Report`` and ``DataDriftPreset`` (0.7's API, or the older one), and whether the
    pandas 3 stand-in was needed."""
    import pandas.core.dtypes.common as common

    shimmed = False
    if not hasattr(common, "infer_dtype_from_object"):  # removed in pandas 3
        from pandas.api.types import pandas_dtype

        def infer_dtype_from_object(dtype: Any) -> Any:
            return pandas_dtype(dtype).type

        common.infer_dtype_from_object = infer_dtype_from_object  # type: ignore[attr-defined]
        shimmed = True
    with quiet():
        try:
            from evidently import Report
            from evidently.presets import DataDriftPreset
        except ImportError:  # before 0.7
            from evidently.metric_preset import DataDriftPreset  # type: ignore[no-redef]
            from evidently.report import Report  # type: ignore[no-redef]
    return Report, DataDriftPreset, shimmed


@dataclass
class Verdict:
    """What one tool found: the drifted columns and each column's statistic."""

    drifted: list[str]
    statistics: dict[str, float] = field(default_factory=dict)
    p_values: dict[str, float] = field(default_factory=dict)
    note: str = ""


def evidently_verdict(snapshot: Any) -> Verdict:
    """The drifted columns of Evidently's snapshot, from its ``ValueDrift`` results."""
    data = snapshot.dict() if hasattr(snapshot, "dict") else snapshot.as_dict()
    statistics: dict[str, float] = {}
    drifted: list[str] = []
    methods: set[str] = set()
    count = None
    for metric in data["metrics"]:
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith("ValueDrift"):
            column, method = str(config["column"]), str(config.get("method"))
            value, threshold = float(metric["value"]), float(config["threshold"])
            methods.add(method)
            statistics[column] = value
            # Evidently's rule: a p-value below the threshold, a distance at or above it
            if (value < threshold) if "p_value" in method.lower() else (value >= threshold):
                drifted.append(column)
        elif kind.endswith("DriftedColumnsCount"):
            count = metric["value"]["count"]
    note = f"method: {', '.join(sorted(methods))}"
    if count is not None and int(count) != len(drifted):
        note += f"; its DriftedColumnsCount says {int(count)}, NOT {len(drifted)}"
    elif count is not None:
        note += f"; DriftedColumnsCount {int(count)} agrees"
    return Verdict(drifted, statistics, note=note)


# -- the calls ----------------------------------------------------------------------------------

@dataclass
class Call:
    key: str
    label: str
    fn: Callable[[Any, Any], Verdict]
    reps: int
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    verdict: Verdict | None = None
    first: float | None = None  # the untimed first call

    def run(self, ref: Any, cur: Any) -> tuple[float, float, Verdict]:
        c0, t0 = time.process_time(), time.perf_counter()
        verdict = self.fn(ref, cur)
        return time.perf_counter() - t0, time.process_time() - c0, verdict

    def median(self) -> float | None:
        return median(self.wall) if self.wall else None

    def median_cpu(self) -> float | None:
        return median(self.cpu) if self.cpu else None


def nb_call(record: bool, tests: str | None = None) -> Callable[[Any, Any], Verdict]:
    def call(ref: Any, cur: Any) -> Verdict:
        import nbmlops

        report = nbmlops.drift(ref, cur, record=record, tests=tests)
        return Verdict(list(report.drifted),
                       {c.column: float(c.statistic) for c in report.columns
                        if c.statistic is not None},
                       {c.column: float(c.p_value) for c in report.columns
                        if c.p_value is not None},
                       note=f"share {report.share:.2f}, dataset drift "
                            f"{'yes' if report.dataset_drift else 'no'}, its .seconds "
                            f"{fmt_s(report.seconds)}"
                            + (f", run {report.run_id[:8]}" if report.run_id else ""))

    return call


def scipy_wasserstein(ref: Any, cur: Any) -> Verdict:
    import numpy as np
    from scipy import stats

    statistics = {c: float(stats.wasserstein_distance(ref[c], cur[c]) / np.std(ref[c]))
                  for c in ref.columns}
    return Verdict([c for c, d in statistics.items() if d > WASSERSTEIN_THRESHOLD], statistics)


def scipy_ks(ref: Any, cur: Any) -> Verdict:
    from scipy import stats

    results = {c: stats.ks_2samp(ref[c], cur[c]) for c in ref.columns}
    p_values = {c: float(r.pvalue) for c, r in results.items()}
    return Verdict([c for c, p in p_values.items() if p < KS_ALPHA],
                   {c: float(r.statistic) for c, r in results.items()}, p_values)


def evidently_call(report_cls: Any, preset_cls: Any) -> Callable[[Any, Any], Verdict]:
    holder: dict[str, Any] = {}

    def call(ref: Any, cur: Any) -> Verdict:
        with quiet():
            holder["snapshot"] = report_cls([preset_cls()]).run(current_data=cur,
                                                               reference_data=ref)
        return Verdict([])  # read afterwards, untimed: see Bench.evidently_verdict

    call.holder = holder  # type: ignore[attr-defined]
    return call


# -- the benchmark ------------------------------------------------------------------------------

class Bench(BenchContext):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        super().__init__(args, root)
        self.rows: int = args.rows or (QUICK_ROWS if self.quick else ROWS)
        self.reps: int = args.reps or (3 if self.quick else 5)
        self.scipy_reps = min(self.reps, SCIPY_MAX_REPS)
        self.evidently_reps: int = 0 if args.skip_evidently else args.evidently_reps
        t0 = time.perf_counter()
        self.ref, self.cur = make_frames(self.rows)
        self.data_seconds = time.perf_counter() - t0
        self.shimmed = False
        self.calls: dict[str, Call] = {
            "nb": Call("nb", "nbmlops.drift(record=False)", nb_call(False), self.reps),
            "nb_rec": Call("nb_rec", "nbmlops.drift(record=True)", nb_call(True), self.reps),
            "nb_ks": Call("nb_ks", 'nbmlops.drift(tests="ks", record=False)',
                          nb_call(False, "ks"), self.reps),
            "sp_w": Call("sp_w", "scipy loop: wasserstein_distance / std",
                         scipy_wasserstein, self.scipy_reps),
            "sp_ks": Call("sp_ks", "scipy loop: ks_2samp", scipy_ks, self.scipy_reps),
        }
        if self.evidently_reps:
            report_cls, preset_cls, self.shimmed = import_evidently()
            self.calls["ev"] = Call("ev", "Evidently Report([DataDriftPreset()]).run",
                                    evidently_call(report_cls, preset_cls),
                                    self.evidently_reps)

    @property
    def evidently(self) -> Call | None:
        return self.calls.get("ev")

    def evidently_verdict(self) -> None:
        ev = self.evidently
        if ev is not None and ev.wall:
            ev.verdict = evidently_verdict(ev.fn.holder["snapshot"])  # type: ignore[attr-defined]


# -- 1. the data ---------------------------------------------------------------------------------

def section_data(b: Bench) -> None:
    mb = (b.ref.memory_usage(deep=True).sum() + b.cur.memory_usage(deep=True).sum()) / 2 ** 20
    say(f"[1] the data: reference and current, {b.rows:,} x {len(COLUMNS)} float64 each "
        f"({mb:,.0f} MiB together), drawn in {fmt_s(b.data_seconds)} (seed {SEED})")
    for col in COLUMNS:
        shifted = col.name in SHIFTED
        say(f"    {col.name}  {col.describe():<34} sd {col.sd:9.4g}"
            + (f"   SHIFTED by {SHIFT} sd (+{SHIFT * col.sd:.4g})" if shifted else ""))


# -- 2. timing ------------------------------------------------------------------------------------

def section_timing(b: Bench) -> None:
    calls = b.calls
    say(f"[2] timing: {b.reps} interleaved reps of nbmlops' calls, {b.scipy_reps} of the "
        f"scipy loops, {b.evidently_reps or 'no'} of Evidently's report (after an untimed "
        f"first call of each)")
    warm_ref, warm_cur = b.ref.iloc[:WARM_ROWS], b.cur.iloc[:WARM_ROWS]
    for call in calls.values():
        small = call.key in ("sp_w", "sp_ks", "ev")
        wall, _, _ = call.run(warm_ref, warm_cur) if small else call.run(b.ref, b.cur)
        call.first = wall
        say(f"    first call, untimed: {call.label:<44} {fmt_s(wall):>9}"
            + (f"  (on the first {WARM_ROWS:,} rows)" if small else ""))
    if "ev" in calls:
        minutes = 200 * b.rows / ROWS / 60
        say(f"    (Evidently's report on {b.rows:,} rows takes a while: about "
            f"{minutes:.1f} minute{'s' if minutes >= 1.5 else ''} on 2 cores)")
    rounds = max(call.reps for call in calls.values())
    for r in range(rounds):
        owed = alternate([call for call in calls.values() if len(call.wall) < call.reps], r)
        parts = []
        for call in owed:
            wall, cpu, verdict = call.run(b.ref, b.cur)
            call.wall.append(wall)
            call.cpu.append(cpu)
            call.verdict = verdict
            parts.append(f"{call.key} {fmt_s(wall)}")
        say(f"    round {r + 1}/{rounds}: {', '.join(parts)}  (load {load_average()})")
    b.evidently_verdict()
    say()
    say(f"    {'call':<44} {'median':>9} {'min':>9} {'max':>9} {'CPU':>9}  reps")
    for call in calls.values():
        say(f"    {call.label:<44} {fmt_s(call.median()):>9} {fmt_s(min(call.wall)):>9} "
            f"{fmt_s(max(call.wall)):>9} {fmt_s(call.median_cpu()):>9}  {len(call.wall)}")
    say("    (CPU: the process's user + system time over the call, every thread; "
        "median. nbmlops tests the columns on several threads, the others on one)")
    for key in ("nb", "nb_rec", "ev"):
        call = calls.get(key)
        if call is not None and call.verdict is not None and call.verdict.note:
            say(f"    {call.label}: {call.verdict.note}")


# -- 3. checks --------------------------------------------------------------------------------------

def fmt_columns(columns: list[str] | None) -> str:
    if columns is None:
        return "n/a"
    found = sorted(columns)
    if found == sorted(SHIFTED):
        return f"{len(found)}: the shifted"
    extra = [c for c in found if c not in SHIFTED]
    missed = [c for c in SHIFTED if c not in found]
    return (f"{len(found)}" + (f" +{' +'.join(extra)}" if extra else "")
            + (f" -{' -'.join(missed)}" if missed else ""))


def fmt_diff(value: float | None) -> str:
    return "n/a" if value is None else "0" if value == 0 else f"{value:.1e}"


def max_difference(a: dict[str, float], b: dict[str, float]) -> float | None:
    shared = [c for c in a if c in b]
    if not shared:
        return None
    return max(abs(a[c] - b[c]) / max(abs(b[c]), 1e-300) for c in shared)


def section_checks(b: Bench) -> dict[str, Any]:
    calls = b.calls
    verdicts = {key: call.verdict for key, call in calls.items()}
    shifted = sorted(SHIFTED)
    say(f"[3] checks: the drifted columns (shifted: {' '.join(SHIFTED)}) and the statistics")
    for key in ("nb", "nb_rec", "ev", "sp_w", "nb_ks", "sp_ks"):
        verdict = verdicts.get(key)
        if verdict is None:
            continue
        say(f"    {calls[key].label:<44} {' '.join(sorted(verdict.drifted)) or '(none)'}")
    wasserstein = [k for k in ("nb", "nb_rec", "ev", "sp_w") if verdicts.get(k) is not None]
    same = all(sorted(verdicts[k].drifted) == shifted for k in wasserstein)  # type: ignore[union-attr]
    say(f"    same drifted columns (nbmlops, {'Evidently, ' if 'ev' in verdicts else ''}"
        f"scipy loop; each exactly the {len(SHIFTED)} shifted): {'yes' if same else 'NO'}")
    sp = verdicts["sp_w"]
    out: dict[str, Any] = {"same": same}
    for key, name in (("nb", "nbmlops'"), ("ev", "Evidently's")):
        verdict = verdicts.get(key)
        if verdict is None or sp is None:
            continue
        diff = max_difference(verdict.statistics, sp.statistics)
        out[f"{key}_diff"] = diff
        say(f"    {name} normalised Wasserstein vs the scipy loop's: largest relative "
            f"difference {fmt_diff(diff)} over "
            f"{len(verdict.statistics)} columns")
    if sp is not None:
        lo = min(sp.statistics[c] for c in SHIFTED)
        hi = max(v for c, v in sp.statistics.items() if c not in SHIFTED)
        say(f"    distances (scipy): shifted columns from {lo:.3f}, the others up to "
            f"{hi:.4f}; threshold {WASSERSTEIN_THRESHOLD}")
    nb_ks, sp_ks = verdicts.get("nb_ks"), verdicts.get("sp_ks")
    if nb_ks is not None and sp_ks is not None:
        stat_diff = max_difference(nb_ks.statistics, sp_ks.statistics)
        p_shared = [c for c in sp_ks.p_values if c not in SHIFTED and c in nb_ks.p_values]
        p_diff = max((abs(nb_ks.p_values[c] - sp_ks.p_values[c]) for c in p_shared),
                     default=None)
        ks_same = sorted(nb_ks.drifted) == sorted(sp_ks.drifted)
        out["ks_same"] = ks_same
        say(f"    KS: nbmlops and scipy flag {'the same' if ks_same else 'DIFFERENT'} columns "
            f"at p < {KS_ALPHA}; statistics differ by at most "
            f"{fmt_diff(stat_diff)} (relative), p-values of the unshifted columns by at most "
            f"{fmt_diff(p_diff)}")
        false = [c for c in sp_ks.drifted if c not in SHIFTED]
        say(f"    (with {b.rows:,} rows every shift is significant and each unshifted column "
            f"has a 5% chance of p < 0.05: {len(false)} of {len(COLUMNS) - len(SHIFTED)} "
            f"flagged here{': ' + ' '.join(false) if false else ''}; why nbmlops defaults to "
            f"the distance above 1,000 rows)")
    return out


# -- the summary ---------------------------------------------------------------------------------

Cell = float | str | None


@dataclass
class Row:
    measure: str
    nb: Cell
    ev: Cell
    sp: Cell
    target: str = "-"
    met: bool | None = None
    ratio_ev: float | None = None  # given when the cells hold no times
    ratio_sp: float | None = None

    @staticmethod
    def _ratio(nb: Cell, other: Cell) -> float | None:
        if not isinstance(nb, float) or not isinstance(other, float) or nb <= 0:
            return None
        return other / nb

    def ratios(self) -> tuple[float | None, float | None]:
        return (self.ratio_ev if self.ratio_ev is not None else self._ratio(self.nb, self.ev),
                self.ratio_sp if self.ratio_sp is not None else self._ratio(self.nb, self.sp))


def fmt_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:,.1f}x"


def print_summary(rows: list[Row]) -> None:
    lines = []
    for row in rows:
        r_ev, r_sp = row.ratios()
        lines.append((row.measure, fmt_cell(row.nb), fmt_cell(row.ev), fmt_ratio(r_ev),
                      fmt_cell(row.sp), fmt_ratio(r_sp), row.target,
                      met_cell(row.target, row.met)))
    print_table(("measure", "nbmlops", "Evidently", "ratio", "scipy loop", "ratio", "target",
                 "met?"), lines, right={1, 2, 3, 4, 5},
                targets=((row.target, row.met) for row in rows),
                notes=["ratio = how many times faster nbmlops is (Evidently / nbmlops, scipy "
                       "loop / nbmlops; above 1: nbmlops is faster). "
                       f"{NO_EQUIVALENT} = not run by that tool."])


def summary_rows(b: Bench, checks: dict[str, Any]) -> list[Row]:
    c = b.calls
    ev = c.get("ev")
    nb, ev_t, sp_w = c["nb"].median(), ev.median() if ev else None, c["sp_w"].median()
    size = f"{b.rows / 1e6:g}M x {len(COLUMNS)}" if b.rows >= 100_000 else \
        f"{b.rows:,} x {len(COLUMNS)}"
    ratio = None if nb is None or ev_t is None else ev_t / nb
    rows = [
        Row(f"drift check {size}, record=False", nb, ev_t, sp_w,
            target=f"<= {TARGET_SECONDS:g} s", met=nb is not None and nb <= TARGET_SECONDS),
        Row("  the same: speed-up over Evidently", "", "", "", target=f">= {TARGET_RATIO:g}x",
            met=None if ratio is None else ratio >= TARGET_RATIO, ratio_ev=ratio),
        Row("drift check, record=True (lineage run)", c["nb_rec"].median(), ev_t, sp_w),
        Row("CPU time, record=False", c["nb"].median_cpu(), ev.median_cpu() if ev else None,
            c["sp_w"].median_cpu()),
        Row('KS on every column (tests="ks")', c["nb_ks"].median(), NO_EQUIVALENT,
            c["sp_ks"].median()),
    ]
    verdict = {k: (call.verdict.drifted if call.verdict is not None else None)
               for k, call in c.items()}
    rows.append(Row("drifted columns found", fmt_columns(verdict["nb"]),
                    fmt_columns(verdict.get("ev")) if ev else "n/a",
                    fmt_columns(verdict["sp_w"]), target="the 5 shifted, all",
                    met=checks.get("same")))
    if "ks_same" in checks:
        rows.append(Row("KS p < 0.05 columns (vs scipy's)", fmt_columns(verdict["nb_ks"]),
                        NO_EQUIVALENT, fmt_columns(verdict["sp_ks"]), target="identical",
                        met=checks["ks_same"]))

    def diff(key: str) -> str:
        value = checks.get(f"{key}_diff")
        return fmt_diff(value)

    rows.append(Row("normed Wasserstein vs scipy's, max rel. diff", diff("nb"),
                    diff("ev") if ev else "n/a", "0 (itself)", target="<= 1e-9",
                    met=checks.get("nb_diff") is not None and checks["nb_diff"] <= 1e-9))
    return rows


# -- main -----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser("Drift detection: nbmlops.drift side by side with Evidently's "
                          "default data-drift report and a scipy loop.",
                          f"{QUICK_ROWS:,} rows instead of {ROWS:,}, 3 reps instead of 5")
    parser.add_argument("--rows", type=int, metavar="N",
                        help=f"rows of each frame (default {ROWS:,}, {QUICK_ROWS:,} with "
                             f"--quick)")
    parser.add_argument("--reps", type=int, metavar="N",
                        help="repetitions of nbmlops' calls, median reported (default 5, 3 "
                             f"with --quick; the scipy loops run min(N, {SCIPY_MAX_REPS}))")
    parser.add_argument("--evidently-reps", type=int, metavar="N", default=1,
                        help="repetitions of Evidently's report (default 1: minutes each at "
                             f"{ROWS:,} rows)")
    parser.add_argument("--skip-evidently", action="store_true",
                        help="nbmlops and the scipy loops only")
    args = parse_bench_args(parser, argv)
    if args.rows is not None and args.rows < 2 * WARM_ROWS:
        parser.error(f"--rows takes a number from {2 * WARM_ROWS:,}")
    if args.reps is not None and args.reps < 1:
        parser.error("--reps takes a positive number")
    if args.evidently_reps < 1:
        parser.error("--evidently-reps takes a positive number (or use --skip-evidently)")
    return args


def print_header(b: Bench) -> None:
    if b.evidently is not None:
        evidently = version_of("evidently") + (
            "  (pandas 3 lacks infer_dtype_from_object, which it imports: a stand-in was put "
            "in place)" if b.shimmed else "")
    else:
        evidently = "skipped (--skip-evidently)"
    say_header("nbmlops drift detection benchmark", b.quick, [
        ("Evidently", evidently),
        ("SciPy", f"{version_of('scipy')}  (pandas {version_of('pandas')}, NumPy "
                  f"{version_of('numpy')})"),
    ], [
        ("data", f"{b.rows:,} x {len(COLUMNS)} reference and current, {len(SHIFTED)} "
                 f"columns shifted by {SHIFT} sd"),
        ("repetitions", f"nbmlops {b.reps}, scipy loops {b.scipy_reps}, Evidently "
                        f"{b.evidently_reps or 'skipped'}; medians"),
        temp_dir_field(b.root, b.args.keep),
    ])
    say()


SECTIONS: list[tuple[int, Callable[[Bench], Any]]] = [
    (1, section_data), (2, section_timing), (3, section_checks)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body(b: Bench) -> int:
        print_header(b)
        run = run_sections(SECTIONS, b, fatal={2})  # without timings: nothing to check
        if not run.stopped:
            say_summary(b.quick, run.started)
            print_summary(summary_rows(b, run.results.get(3) or {}))
            if b.evidently is not None and b.evidently_reps == 1:
                say("Evidently's figure is one run (--evidently-reps 1), not a median.")
        return run.status

    # set before nbmlops or Evidently is imported (every import of theirs is in a function)
    env = {"DO_NOT_TRACK": "1",  # Evidently's telemetry
           "PYTHONWARNINGS": "ignore"}
    return run_in_workspace("nbmlops-bench-drift-", lambda root: Bench(args, root), body,
                            keep=args.keep, env=env)


if __name__ == "__main__":
    sys.exit(main())
