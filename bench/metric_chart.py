"""A chart's read of a long metric, in process: the store choosing the points
(``metric_chart``) against reading every value and choosing them in Python (the server's
way before: ``metric_series`` + ``reads.decimation``). CPU and wall time per read, medians
and p95 of many repetitions.

    .venv/bin/python bench/metric_chart.py                       # SQLite, 100,000 points
    .venv/bin/python bench/metric_chart.py --url postgresql+psycopg://…/empty_db
    .venv/bin/python bench/metric_chart.py --points 100000 --reps 30 --x time

The store is built once in a temporary folder (or in the empty database ``--url`` names).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHART_POINTS = 1800  # what the run chart asks for: two points per pixel of its ~900 px


def timed(fn: Callable[[], Any], reps: int) -> tuple[list[float], list[float]]:
    fn()  # warm: caches, the connection pool
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return cpu, wall


def summary(label: str, cpu: list[float], wall: list[float]) -> None:
    def p95(xs: list[float]) -> float:
        return sorted(xs)[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)]
    print(f"  {label:<44} CPU median {statistics.median(cpu) * 1e3:6.1f} ms "
          f"p95 {p95(cpu) * 1e3:6.1f} | wall median {statistics.median(wall) * 1e3:6.1f} ms "
          f"p95 {p95(wall) * 1e3:6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an empty store's URL (default: SQLite in a temp folder)")
    parser.add_argument("--points", type=int, default=100_000, help="values of the metric")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--x", choices=("step", "time"), default="step")
    args = parser.parse_args()

    import numpy as np

    from nbmlops._types import Metric, NewRun, RunEnd
    from nbmlops.server import reads
    from nbmlops.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'lineage.db'}"
        store = open_store(url)
        now = time.time()
        run_id = uuid.uuid4().hex
        t0 = time.perf_counter()
        store.record_runs([(
            NewRun(id=run_id, experiment="bench", name="long training", kind="cell",
                   start_time=now),
            RunEnd(status="finished", end_time=now + args.points * 0.01, metrics=tuple(
                Metric("loss", 1.0 / (1 + 0.01 * s) + 0.01 * math.sin(s), s, now + s * 0.01)
                for s in range(args.points))))])
        print(f"{url.split(':')[0]}: {args.points:,} points written in "
              f"{time.perf_counter() - t0:.1f} s; {args.reps} reads each, x={args.x}")

        def in_store() -> int:
            chart = store.metric_chart(run_id, "loss", points=CHART_POINTS, x=args.x,
                                       limit=100_000)
            if chart is None:
                raise SystemExit(f"the store leaves x={args.x} to the caller on this backend")
            return len(chart.steps)

        def in_python() -> int:
            _, steps, values, times = store.metric_series(run_id, "loss", limit=100_000)
            along = np.asarray(steps if args.x == "step" else times, dtype="<f8")
            finite = np.asarray(values, dtype="<f8")
            return len(reads.decimation(along, np.where(np.isfinite(finite), finite, np.nan),
                                        CHART_POINTS))

        assert in_store() == in_python(), (in_store(), in_python())
        summary(f"store chooses {in_store():,} of {args.points:,} (metric_chart)",
                *timed(in_store, args.reps))
        summary(f"read all {args.points:,}, choose in Python", *timed(in_python, args.reps))
        store.close()


if __name__ == "__main__":
    main()
