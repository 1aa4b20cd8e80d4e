"""How well a monitor's drift rule tells drift from noise, side by side with Evidently.

    .venv/bin/python bench/monitor.py                 # 100 repetitions per cell (Evidently 20)
    .venv/bin/python bench/monitor.py --quick         # 10 per cell (Evidently 3), ~2 minutes
    .venv/bin/python bench/monitor.py --skip-evidently

The data: a reference of 1,000 rows × 20 float columns (the training sample a registered
version keeps; seeded normal, gamma and lognormal columns) and current windows of 100,
1,000 and 10,000 rows drawn from the same distributions, with 1 or 5 of the 20 columns
shifted by 0, 0.05, 0.1, 0.25 or 0.5 of their standard deviation. Each cell of the grid is
repeated with fresh windows (``--reps``).

What is judged, per window:

- nbmlops, the monitor's rule: ``check(..., familywise=0.05, share=1/20)`` — an alert when
  one column drifted, each column's test (Kolmogorov–Smirnov: the reference has 1,000
  values) at 0.05 / 20;
- Evidently's default data-drift report (``Report([DataDriftPreset()])``): its dataset
  verdict (a share of 0.5 drifted columns) and, as a second reading, "any column drifted"
  by its per-column verdicts (each at 0.05).

Reported: the false-alarm rate at no shift (the target: at most the significance, 0.05) and
the detection rate (power) per cell, with the CPU time per check.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from _harness import bench_parser, fmt_s, median, parse_bench_args, print_table, quiet, say

SHIFTS = (0.0, 0.05, 0.1, 0.25, 0.5)
WINDOWS = (100, 1_000, 10_000)
SHIFTED = (1, 5)
COLUMNS = 20
REFERENCE_ROWS = 1_000
SIGNIFICANCE = 0.05


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


@dataclass
class Tally:
    alarms: int = 0
    checks: int = 0
    seconds: list[float] = field(default_factory=list)

    def rate(self) -> float | None:
        return self.alarms / self.checks if self.checks else None


def nbmlops_rule() -> Callable[[pd.DataFrame, pd.DataFrame], dict[str, bool]]:
    from nbmlops.monitoring.drift import check

    def judge(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, bool]:
        report = check(ref, cur, familywise=SIGNIFICANCE, share=1.0 / COLUMNS)
        return {"nbmlops": bool(report.dataset_drift)}

    return judge


def evidently_rule() -> Callable[[pd.DataFrame, pd.DataFrame], dict[str, bool]]:
    from drift import evidently_verdict, import_evidently

    report_cls, preset_cls, _ = import_evidently()

    def judge(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, bool]:
        with quiet():
            snapshot = report_cls([preset_cls()]).run(current_data=cur, reference_data=ref)
        verdict = evidently_verdict(snapshot)
        return {"evidently (dataset)": len(verdict.drifted) >= 0.5 * COLUMNS,
                "evidently (any column)": bool(verdict.drifted)}

    return judge


def run_grid(rules: dict[str, tuple[Callable[..., dict[str, bool]], int]], seed: int
             ) -> dict[tuple[str, float, int, int], Tally]:
    tallies: dict[tuple[str, float, int, int], Tally] = {}
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(_draw(rng, REFERENCE_ROWS), columns=NAMES)
    for rows in WINDOWS:
        for shifted in SHIFTED:
            for shift in SHIFTS:
                if shift == 0.0 and shifted != SHIFTED[0]:
                    continue  # no shift: the number shifted does not matter
                most = max(reps for _, reps in rules.values())
                for rep in range(most):
                    cur = window(rng, rows, shift, shifted)
                    for judge, reps in rules.values():
                        if rep >= reps:
                            continue
                        t0 = time.process_time()  # CPU: meaningful on a busy machine
                        verdicts = judge(ref, cur)
                        spent = time.process_time() - t0
                        for name, alarm in verdicts.items():
                            tally = tallies.setdefault((name, shift, shifted, rows), Tally())
                            tally.checks += 1
                            tally.alarms += int(alarm)
                            tally.seconds.append(spent)
                say(f"  window {rows:>6,} rows, {shifted} of {COLUMNS} shifted by "
                    f"{shift:g} sd: done")
    return tallies


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__.splitlines()[0], "10 repetitions per cell (Evidently 3)")
    parser.add_argument("--reps", type=int, help="repetitions per cell for nbmlops "
                        "(default 100; --quick 10)")
    parser.add_argument("--evidently-reps", type=int, help="repetitions per cell for "
                        "Evidently (default 20; --quick 3): its report takes ~1 s")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args: argparse.Namespace = parse_bench_args(parser, argv)
    reps = args.reps or (10 if args.quick else 100)
    ev_reps = 0 if args.skip_evidently else (args.evidently_reps or (3 if args.quick else 20))
    started = time.perf_counter()
    rules: dict[str, tuple[Callable[..., dict[str, bool]], int]] = {
        "nbmlops": (nbmlops_rule(), reps)}
    if ev_reps:
        try:
            rules["evidently"] = (evidently_rule(), ev_reps)
        except ImportError as exc:
            say(f"Evidently is not installed ({exc}); pip install -e '.[bench]' to compare")
    from _harness import version_of

    say(f"bench/monitor.py{' (--quick)' if args.quick else ''}: nbmlops "
        f"{version_of('nbmlops')}" + (f", Evidently {version_of('evidently')}"
                                      if "evidently" in rules else ""))
    say(f"  reference {REFERENCE_ROWS:,} × {COLUMNS}; {reps} windows per cell for nbmlops"
        + (f", {ev_reps} for Evidently" if "evidently" in rules else ""))
    tallies = run_grid(rules, args.seed)
    names = sorted({k[0] for k in tallies}, key=lambda n: (n != "nbmlops", n))
    say()
    say(f"False alarms at no shift (target: at most {SIGNIFICANCE:.0%}):")
    lines = []
    for rows in WINDOWS:
        lines.append([f"{rows:,}", *[pct(tallies[(n, 0.0, SHIFTED[0], rows)].rate())
                                     for n in names]])
    print_table(["window rows", *names], lines, right=set(range(1, len(names) + 1)))
    say("Detection rate (power) per cell:")
    lines = []
    for rows in WINDOWS:
        for shifted in SHIFTED:
            for shift in SHIFTS[1:]:
                lines.append([f"{rows:,}", f"{shifted}/{COLUMNS}", f"{shift:g} sd",
                              *[pct(tallies[(n, shift, shifted, rows)].rate())
                                for n in names]])
    print_table(["window rows", "shifted", "shift", *names], lines,
                right=set(range(3, len(names) + 3)))
    say("CPU time per check (median; the process's, all its threads):")
    lines = []
    for rows in WINDOWS:
        cells = []
        for n in names:
            spent = [s for k, t in tallies.items() if k[0] == n and k[3] == rows
                     for s in t.seconds]
            cells.append(fmt_s(median(spent)) if spent else "n/a")
        lines.append([f"{rows:,}", *cells])
    print_table(["window rows", *names], lines, right=set(range(1, len(names) + 1)))
    worst = max(tallies[("nbmlops", 0.0, SHIFTED[0], rows)].rate() or 0.0 for rows in WINDOWS)
    say(f"nbmlops' worst false-alarm rate: {pct(worst)} (target <= {SIGNIFICANCE:.0%}: "
        f"{'met' if worst <= SIGNIFICANCE else 'NOT met'}); "
        f"{fmt_s(time.perf_counter() - started)} in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
