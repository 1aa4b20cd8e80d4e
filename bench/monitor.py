"""How well a monitor tells drift from noise (beside Evidently) and how close its estimated
performance comes to the realized one (beside NannyML's CBPE).

    .venv-evidently/bin/python bench/monitor.py            # the full grid, ~20-40 minutes
    .venv-evidently/bin/python bench/monitor.py --quick    # 10 windows per cell, ~3 minutes
    .venv/bin/python bench/monitor.py --quick --skip-evidently --skip-nannyml

**[1] drift.** A reference of 1,000 rows × 20 float columns (the training sample a
registered version keeps; 8 normal, 6 gamma, 6 lognormal columns) and a current window of
100, 1,000 or 10,000 rows drawn from the same distributions, with 1 or 5 of the 20 columns
shifted by 0, 0.05, 0.1, 0.25 or 0.5 of their standard deviation: 27 cells, ``--reps``
windows each (100; a fresh reference and window per repetition, seeded by the cell and the
repetition, so any number of workers sees the same data). Per window:

- nbmlops, the monitor's rule (``check(..., familywise=0.05, share=1/20)``, what
  ``nbmlops monitor run`` calls with the default ``significance: 0.05``): an alert when one
  column drifted, each column's Kolmogorov–Smirnov test at 0.05 / 20 (Bonferroni);
- Evidently's default data-drift test on every window (its own default per-column test,
  ``get_stattest(...)``, the function its report calls, with the report's default threshold):
  its dataset verdict (half the columns drifted) and "any column drifted" (each at 0.05);
- Evidently's full default report (``Report([DataDriftPreset()]).run(...)``) on the first
  ``--report-reps`` windows of each cell (10): about 3 s of CPU each, most of it building
  plotly figures, so not on all 2,700. Its verdicts are checked equal to the previous line's
  on every window it ran, and its time is the time per check reported for Evidently.

Reported: the false-alarm rate at no shift with a 95% Wilson interval (target: at most the
significance, 0.05), the detection rate (power) per cell, and the CPU time per check.

**[2] CBPE.** Simulated binary classification with known labels: features N(0, 1), labels
drawn from a known P(y | x); a model fitted on 3,000 rows; held-out data of 2,000 rows (the
calibration nbmlops keeps at registration, NannyML's reference); ``--windows`` (50)
windows of 1,000 rows, without and with covariate shift (two features moved by 1 sd; P(y | x)
unchanged). Two worlds: a logistic truth with a logistic model (well specified), and a truth
with an interaction and a square the logistic model cannot represent (misspecified: the
calibration by score no longer holds once the inputs move). Per window: the realized accuracy
and ROC AUC, nbmlops' estimate (``nbmlops.evaluation.estimate``, what ``performance`` shows),
NannyML's CBPE (``nannyml.CBPE``, fitted on the same held-out rows, chunks of 1,000 rows;
run in its own venv through parquet files, ``--nannyml-python``), and an oracle: the expected
accuracy from the true P(y | x), the best any estimate can do against the realized figure.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _harness import (
    bench_parser,
    fmt_s,
    load_average,
    median,
    parse_bench_args,
    print_table,
    quiet,
    say,
    version_of,
)

SHIFTS = (0.0, 0.05, 0.1, 0.25, 0.5)
WINDOWS = (100, 1_000, 10_000)
SHIFTED = (1, 5)
COLUMNS = 20
REFERENCE_ROWS = 1_000
SIGNIFICANCE = 0.05
EVIDENTLY_SHARE = 0.5  # DataDriftPreset's default drift_share
NANNYML_PYTHON = os.environ.get(
    "NBMLOPS_BENCH_NANNYML",
    str(Path(__file__).resolve().parents[1] / ".venv-nannyml" / "bin" / "python"))


def _draw(rng: np.random.Generator, rows: int) -> np.ndarray:
    """20 columns: 8 normal, 6 gamma, 6 lognormal (each with unit-ish scale)."""
    out = np.empty((rows, COLUMNS))
    out[:, :8] = rng.normal(0.0, 1.0, (rows, 8))
    out[:, 8:14] = rng.gamma(2.0, 1.0, (rows, 6))
    out[:, 14:] = rng.lognormal(0.0, 0.5, (rows, 6))
    return out


# the standard deviation of each column's distribution (to shift by a share of it)
SD = np.array([1.0] * 8 + [np.sqrt(2.0)] * 6
              + [float(np.sqrt((np.exp(0.25) - 1) * np.exp(0.25)))] * 6)
NAMES = [f"x{i:02d}" for i in range(COLUMNS)]


def window(rng: np.random.Generator, rows: int, shift: float, shifted: int) -> pd.DataFrame:
    values = _draw(rng, rows)
    if shift:
        chosen = rng.choice(COLUMNS, shifted, replace=False)
        values[:, chosen] += shift * SD[chosen]
    return pd.DataFrame(values, columns=NAMES)


def cells() -> list[tuple[int, int, float]]:
    """(rows, shifted, shift): no shift once per window size (the number shifted does not
    matter), then every shift for 1 and 5 columns."""
    out = []
    for rows in WINDOWS:
        out.append((rows, SHIFTED[0], 0.0))
        out += [(rows, shifted, shift) for shifted in SHIFTED for shift in SHIFTS[1:]]
    return out


# -- [1] drift: one window, judged by each tool (runs in a worker) -------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(evidently: bool) -> None:
    from nbmlops.monitoring.drift import check

    _WORKER["check"] = check
    if evidently:
        from drift import evidently_verdict, import_evidently

        report_cls, preset_cls, _ = import_evidently()
        with quiet():
            from evidently.legacy.calculations.stattests.registry import get_stattest
        _WORKER.update(report=report_cls, preset=preset_cls, verdict=evidently_verdict,
                       get_stattest=get_stattest)


def _cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.process_time()  # CPU time of the process (all its threads): fair on a busy machine
    out = fn()
    return time.process_time() - t0, out


def judge_window(task: tuple[int, int, float, int, int, bool, bool]) -> dict[str, Any]:
    """One window of one cell: each tool's verdict and CPU time."""
    rows, shifted, shift, rep, seed, evidently, full_report = task
    rng = np.random.default_rng([seed, rows, shifted, round(shift * 100), rep])
    ref = pd.DataFrame(_draw(rng, REFERENCE_ROWS), columns=NAMES)
    cur = window(rng, rows, shift, shifted)
    check = _WORKER["check"]
    out: dict[str, Any] = {"cell": (rows, shifted, shift)}
    spent, report = _cpu(lambda: check(ref, cur, familywise=SIGNIFICANCE, share=1 / COLUMNS))
    out["nbmlops"] = (bool(report.dataset_drift), spent)
    if not evidently:
        return out
    get_stattest = _WORKER["get_stattest"]

    def stattests() -> list[str]:
        drifted = []
        for name in NAMES:
            test = get_stattest(ref[name], cur[name], "num", None)  # its default choice
            if test(ref[name], cur[name], "num", None).drifted:  # its default threshold
                drifted.append(name)
        return drifted

    with quiet():
        spent, drifted = _cpu(stattests)
    out["evidently tests"] = (sorted(drifted), spent)
    if full_report:
        def full() -> list[str]:
            snapshot = _WORKER["report"]([_WORKER["preset"]()]).run(current_data=cur,
                                                                    reference_data=ref)
            return list(_WORKER["verdict"](snapshot).drifted)

        with quiet():
            spent, drifted = _cpu(full)
        out["evidently report"] = (sorted(drifted), spent)
    return out


@dataclass
class Tally:
    alarms: int = 0
    checks: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, alarm: bool, seconds: float | None = None) -> None:
        self.checks += 1
        self.alarms += int(alarm)
        if seconds is not None:
            self.seconds.append(seconds)

    def rate(self) -> float | None:
        return self.alarms / self.checks if self.checks else None


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson interval of a proportion k / n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def section_drift(args: argparse.Namespace, evidently: bool) -> dict[str, Any]:
    reps = args.reps or (10 if args.quick else 100)
    report_reps = 0 if not evidently else (args.report_reps if args.report_reps is not None
                                           else (1 if args.quick else 2))
    tasks = [(rows, shifted, shift, rep, args.seed, evidently, rep < report_reps)
             for rows, shifted, shift in cells() for rep in range(reps)]
    say(f"[1] drift: {len(cells())} cells × {reps} windows ({len(tasks):,} windows; "
        f"Evidently's full report on {report_reps} per cell), {args.workers} worker(s); "
        f"load average {load_average()}")
    tallies: dict[tuple[str, int, int, float], Tally] = {}
    mismatches: list[str] = []
    started = time.perf_counter()
    done = 0
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.workers, initializer=_init_worker, initargs=(evidently,)) as pool:
        # the slow windows (full reports, 10,000 rows) first, so the pool ends together
        order = sorted(tasks, key=lambda t: (not t[6], -t[0]))
        for result in pool.imap_unordered(judge_window, order, chunksize=1):
            rows, shifted, shift = result["cell"]

            def tally(name: str, cell: tuple[int, int, float] = result["cell"]) -> Tally:
                return tallies.setdefault((name, *cell), Tally())

            alarm, spent = result["nbmlops"]
            tally("nbmlops").add(alarm, spent)
            if "evidently tests" in result:
                drifted, spent = result["evidently tests"]
                tally("evidently (dataset)").add(len(drifted) >= EVIDENTLY_SHARE * COLUMNS,
                                                 spent)
                tally("evidently (any column)").add(bool(drifted))
                if "evidently report" in result:
                    full, spent = result["evidently report"]
                    tally("evidently report").add(bool(full), spent)
                    if full != drifted:
                        mismatches.append(f"{rows} rows, {shifted} by {shift}: report {full},"
                                          f" tests {drifted}")
            done += 1
            if done % max(1, len(tasks) // 10) == 0:
                say(f"    {done:,} of {len(tasks):,} windows, "
                    f"{fmt_s(time.perf_counter() - started)}; load {load_average()}")
    elapsed = time.perf_counter() - started
    names = ["nbmlops", *(["evidently (dataset)", "evidently (any column)"] if evidently
                          else [])]
    say()
    say(f"False alarms at no shift (target: at most {SIGNIFICANCE:.0%}; 95% Wilson interval):")
    lines = []
    for rows in [*WINDOWS, None]:
        keys = [(rows, SHIFTED[0], 0.0)] if rows else [(r, SHIFTED[0], 0.0) for r in WINDOWS]
        cells_ = []
        for n in names:
            k = sum(tallies[(n, *key)].alarms for key in keys)
            m = sum(tallies[(n, *key)].checks for key in keys)
            lo, hi = wilson(k, m)
            cells_.append(f"{pct(k / m)} ({k}/{m}; {pct(lo)}–{pct(hi)})")
        lines.append([f"{rows:,}" if rows else "all", *cells_])
    print_table(["window rows", *names], lines, right=set(range(1, len(names) + 1)))
    say("Detection rate (power) per cell:")
    lines = []
    for rows in WINDOWS:
        for shifted in SHIFTED:
            for shift in SHIFTS[1:]:
                lines.append([f"{rows:,}", f"{shifted}/{COLUMNS}", f"{shift:g} sd",
                              *[pct(tallies[(n, rows, shifted, shift)].rate()) for n in names]])
    print_table(["window rows", "shifted", "shift", *names], lines,
                right=set(range(3, len(names) + 3)))
    timed = ["nbmlops", *(["evidently (dataset)", "evidently report"] if evidently else [])]
    labels = {"nbmlops": "nbmlops check", "evidently (dataset)": "Evidently's tests alone",
              "evidently report": "Evidently's default report"}
    say("CPU time per check (median over the windows; the worker process's, all threads):")
    lines = []
    for rows in WINDOWS:
        row = [f"{rows:,}"]
        for n in timed:
            spent = [s for k, t in tallies.items() if k[0] == n and k[1] == rows
                     for s in t.seconds]
            row.append(fmt_s(median(spent)) if spent else "n/a")
        lines.append(row)
    print_table(["window rows", *[labels[n] for n in timed]], lines,
                right=set(range(1, len(timed) + 1)))
    if evidently:
        checked = sum(t.checks for k, t in tallies.items() if k[0] == "evidently report")
        say(f"Evidently's full report agreed with its tests on {checked - len(mismatches)} of "
            f"{checked} windows" + (":" if mismatches else ""))
        for line in mismatches[:10]:
            say(f"    {line}")
    worst = max(tallies[("nbmlops", rows, SHIFTED[0], 0.0)].rate() or 0.0 for rows in WINDOWS)
    say(f"[1] done in {fmt_s(elapsed)}; load average {load_average()}")
    say()
    return {"reps": reps, "report_reps": report_reps, "seconds": elapsed,
            "worst_false_alarms": worst, "mismatches": len(mismatches),
            "rates": {"|".join(map(str, k)): [t.alarms, t.checks] for k, t in tallies.items()}}


# -- [2] CBPE ---------------------------------------------------------------------------------------

CALIBRATION_ROWS = 2_000
TRAIN_ROWS = 3_000
CBPE_WINDOW = 1_000
COVARIATE_SHIFT = 1.0  # sd, on the first two features


def truth(world: str, x: np.ndarray) -> np.ndarray:
    """P(y = 1 | x): what the labels are drawn from (the same with and without shift)."""
    z = x @ np.array([1.5, -1.0, 0.5, 0.0, 0.8]) + 0.3
    if world == "misspecified":
        z = z + 1.2 * x[:, 0] * x[:, 2] - 0.6 * x[:, 1] ** 2
    return 1.0 / (1.0 + np.exp(-z))


def simulate(world: str, rng: np.random.Generator, n: int, shift: float = 0.0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 5))
    x[:, :2] += shift  # covariate shift: P(y | x) is unchanged
    p = truth(world, x)
    return x, (rng.random(n) < p).astype(int), p


def _realized(y: np.ndarray, pred: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    return float(np.mean(y == pred)), float(roc_auc_score(y, scores))


def section_cbpe(args: argparse.Namespace, nannyml: bool) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    from nbmlops.evaluation.baseline import calibration_map, estimate

    windows = args.windows or (10 if args.quick else 50)
    say(f"[2] CBPE: {windows} windows of {CBPE_WINDOW:,} rows per world and shift, model "
        f"fitted on {TRAIN_ROWS:,} rows, calibrated on {CALIBRATION_ROWS:,} held-out rows; "
        f"load average {load_average()}")
    rng = np.random.default_rng(args.seed)
    rows: list[dict[str, Any]] = []
    cbpe_seconds: list[float] = []
    tmp = Path(tempfile.mkdtemp(prefix="nbmlops-bench-cbpe-"))
    manifest: list[dict[str, Any]] = []
    for world in ("well specified", "misspecified"):
        x, y, _ = simulate(world, rng, TRAIN_ROWS)
        model = LogisticRegression().fit(x, y)
        xh, yh, _ = simulate(world, rng, CALIBRATION_ROWS)
        sh = model.predict_proba(xh)[:, 1]
        calibration = calibration_map(sh, yh == 1)
        ref_path = tmp / f"{world.replace(' ', '_')}-reference.parquet"
        pd.DataFrame({"proba": sh, "pred": (sh > 0.5).astype(int), "y": yh}).to_parquet(ref_path)
        for shift in (0.0, COVARIATE_SHIFT):
            frames = []
            for w in range(windows):
                xw, yw, pw = simulate(world, rng, CBPE_WINDOW, shift)
                s = model.predict_proba(xw)[:, 1]
                pred = (s > 0.5).astype(int)
                t0 = time.process_time()
                guess = estimate(calibration, s, pred == 1)
                cbpe_seconds.append(time.process_time() - t0)
                acc, auc = _realized(yw, pred, s)
                rows.append({"world": world, "shift": shift, "window": w,
                             "realized accuracy": acc, "realized roc_auc": auc,
                             "nbmlops accuracy": guess["accuracy"],
                             "nbmlops roc_auc": guess["roc_auc"],
                             "oracle accuracy": float(np.mean(np.where(pred == 1, pw, 1 - pw)))})
                frames.append(pd.DataFrame({"proba": s, "pred": pred, "y": yw}))
            ana_path = tmp / f"{world.replace(' ', '_')}-{shift:g}-analysis.parquet"
            pd.concat(frames, ignore_index=True).to_parquet(ana_path)
            manifest.append({"world": world, "shift": shift, "reference": str(ref_path),
                             "analysis": str(ana_path), "chunk_size": CBPE_WINDOW})
    table = pd.DataFrame(rows)
    nannyml_note = ""
    nannyml_seconds: dict[str, float] = {}
    if nannyml:
        try:
            found, nannyml_seconds = run_nannyml(manifest, tmp)
            table = table.merge(found, on=["world", "shift", "window"], how="left")
        except RuntimeError as exc:
            nannyml_note = str(exc)
            nannyml = False
    tools = ["nbmlops", *(["NannyML"] if nannyml else [])]
    say()
    say("Estimated minus realized, per 1,000-row window: mean |error| / 95th percentile "
        "|error| / mean error (bias):")
    lines = []
    for (world, shift), group in table.groupby(["world", "shift"], sort=False):
        for metric in ("accuracy", "roc_auc"):
            cells_ = []
            for tool in [*tools, *(["oracle"] if metric == "accuracy" else [])]:
                col = f"{tool.lower()} {metric}" if tool != "NannyML" else f"nannyml {metric}"
                if col not in group:
                    cells_.append("n/a")
                    continue
                err = group[col].to_numpy() - group[f"realized {metric}"].to_numpy()
                cells_.append(f"{np.mean(np.abs(err)):.3f} / {np.percentile(np.abs(err), 95):.3f}"
                              f" / {np.mean(err):+.3f}")
            if metric != "accuracy":
                cells_.append("—")
            lines.append([world, f"{shift:g} sd", metric.replace("roc_auc", "ROC AUC"),
                          f"{group[f'realized {metric}'].mean():.3f}", *cells_])
    print_table(["world", "shift", "metric", "realized (mean)", *tools, "oracle"], lines,
                right=set(range(3, len(tools) + 5)))
    say(f"nbmlops' estimate: {fmt_s(median(cbpe_seconds))} of CPU per 1,000-row window "
        "(median)" + (f"; NannyML: fit {fmt_s(nannyml_seconds.get('fit'))}, estimate "
                      f"{fmt_s(nannyml_seconds.get('estimate_per_chunk'))} per chunk (median "
                      f"over its runs, CPU)" if nannyml_seconds else ""))
    if nannyml_note:
        say(f"NannyML left out: {nannyml_note}")
    say(f"[2] done; load average {load_average()}")
    say()
    return {"windows": windows, "nannyml": nannyml, "note": nannyml_note}


def run_nannyml(manifest: list[dict[str, Any]], tmp: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """NannyML's CBPE in its own venv (``--nannyml-python``), through parquet files."""
    python = Path(NANNYML_PYTHON)
    if not python.exists():
        raise RuntimeError(f"no NannyML venv at {python} (see bench/README: python3.11 -m venv "
                           ".venv-nannyml && .venv-nannyml/bin/pip install "
                           "nannyml==0.13.1 pyarrow; or set NBMLOPS_BENCH_NANNYML)")
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    script = Path(__file__).with_name("_nannyml_cbpe.py")
    done = subprocess.run([str(python), str(script), str(tmp / "manifest.json"),
                           str(tmp / "nannyml.parquet")], capture_output=True, text=True,
                          check=False, env={**os.environ, "PYTHONPATH": ""})
    if done.returncode:
        raise RuntimeError(f"NannyML's run failed ({done.returncode}): "
                           + (done.stderr.strip().splitlines() or ["no output"])[-1])
    found = pd.read_parquet(tmp / "nannyml.parquet")
    seconds = json.loads((tmp / "nannyml.parquet.json").read_text())
    say(f"    NannyML {seconds.get('version')} in {python.parent.parent}")
    return found, seconds


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__.splitlines()[0],
                          "10 windows per drift cell (1 full Evidently report), 10 CBPE windows")
    parser.add_argument("--reps", type=int, help="windows per drift cell (100; --quick 10)")
    parser.add_argument("--report-reps", type=int, help="Evidently's full report on the "
                        "first N windows of each cell (2; --quick 1)")
    parser.add_argument("--windows", type=int, help="CBPE windows per world and shift "
                        "(50; --quick 10)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the drift grid")
    parser.add_argument("--only", choices=("drift", "cbpe"))
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-nannyml", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this file")
    args: argparse.Namespace = parse_bench_args(parser, argv)
    started = time.perf_counter()
    evidently = not args.skip_evidently
    if evidently:
        try:
            from drift import import_evidently

            import_evidently()
        except ImportError as exc:
            say(f"Evidently is not installed ({exc}); run with .venv-evidently/bin/python"
                " (bench/README) to compare")
            evidently = False
    say(f"bench/monitor.py{' (--quick)' if args.quick else ''}: nbmlops "
        f"{version_of('nbmlops')}" + (f", Evidently {version_of('evidently')}" if evidently
                                      else "") + f"; {os.cpu_count()} CPUs, load average "
        f"{load_average()}")
    figures: dict[str, Any] = {"load_start": load_average()}
    if args.only in (None, "drift"):
        figures["drift"] = section_drift(args, evidently)
    if args.only in (None, "cbpe"):
        figures["cbpe"] = section_cbpe(args, not args.skip_nannyml)
    figures["load_end"] = load_average()
    figures["seconds"] = time.perf_counter() - started
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str))
    worst = figures.get("drift", {}).get("worst_false_alarms")
    say(f"Summary ({'quick' if args.quick else 'full'} run, {fmt_s(figures['seconds'])} in "
        f"all; load average now {load_average()})"
        + (f"; nbmlops' worst false-alarm rate {pct(worst)} (target <= {SIGNIFICANCE:.0%})"
           if worst is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
