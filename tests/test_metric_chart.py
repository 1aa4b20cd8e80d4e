"""The store's chart read (``metric_chart``): what a chart draws of a long metric, chosen in
the database, is what the server's Python decimation (``reads.decimation``) chooses of all
the values read, on every backend.

Series are random (seeded): NaN and ±inf among the values, several values at one step, times
logged out of step order, ties; ranges whole and zoomed; x by step and by time.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import pytest

from nbmlops._types import Metric, MetricChart, NewRun, RunEnd
from nbmlops.server import reads
from nbmlops.store import Store

T0 = 1_700_000_000.0


def record(store: Store, metrics: list[Metric]) -> str:
    run_id = uuid.uuid4().hex
    store.record_runs([(NewRun(id=run_id, experiment="charts", name="charted", kind="cell",
                               start_time=T0),
                        RunEnd(status="finished", end_time=T0 + 1, metrics=tuple(metrics)))])
    return run_id


def python_choice(store: Store, run_id: str, key: str, *, points: int, x: str,
                  low: float | None, high: float | None) -> tuple[int, bool, list[Any]]:
    """The server's way before the store chose: read every value, order by x, cut the
    range, ``reads.decimation``: (in range, decimated, [(step, value, time)])."""
    _, steps, values, times = store.metric_series(run_id, key)
    columns = [np.asarray(steps, dtype="<f8"), np.asarray(values, dtype="<f8"),
               np.asarray(times, dtype="<f8")]
    along = columns[0] if x == "step" else columns[2]
    order = np.argsort(along, kind="stable")
    columns, along = [c[order] for c in columns], along[order]
    start = 0 if low is None else int(np.searchsorted(along, low, side="left"))
    stop = len(along) if high is None else int(np.searchsorted(along, high, side="right"))
    columns = [c[start:stop] for c in columns]
    finite = np.where(np.isfinite(columns[1]), columns[1], np.nan)
    in_range = len(columns[0])
    if in_range <= points:
        return in_range, False, list(zip(*(c.tolist() for c in columns), strict=True))
    chosen = reads.decimation(along[start:stop], finite, points)
    return in_range, True, list(zip(*(c[chosen].tolist() for c in columns), strict=True))


def same(a: list[Any], b: list[Any]) -> bool:
    def key(row: Any) -> tuple[Any, ...]:
        step, value, when = row
        return (step, value if math.isfinite(value) else "gap", when)  # as the route sends
    return [key(r) for r in a] == [key(r) for r in b]


def series(seed: int, n: int) -> list[Metric]:
    """A noisy curve: ~2% NaN, a few ±inf, a flat stretch (ties), steps that repeat and
    skip, times a step apart but logged out of order here and there."""
    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(size=n))
    values[rng.random(n) < 0.02] = np.nan
    values[rng.integers(0, n, 3)] = np.inf
    values[rng.integers(0, n, 2)] = -np.inf
    flat = int(rng.integers(0, n - 200))
    values[flat:flat + 150] = 1.5  # equal values: the first of them is kept
    steps = np.cumsum(rng.choice([0, 1, 1, 1, 7], size=n))  # equal steps, skipped steps
    times = T0 + steps * 0.5 + rng.choice([0.0, 0.0, 0.0, -40.0, 3.0], size=n)
    return [Metric("loss", float(v), int(s), float(t))
            for v, s, t in zip(values, steps, times, strict=True)]


def check(store: Store, run_id: str, *, points: int, x: str, low: float | None,
          high: float | None, total: int) -> MetricChart | None:
    chart = store.metric_chart(run_id, "loss", points=points, x=x, low=low, high=high,
                               limit=100_000)
    if chart is None:
        return None
    in_range, decimated, rows = python_choice(store, run_id, "loss", points=points, x=x,
                                              low=low, high=high)
    assert (chart.total, chart.in_range, chart.decimated) == (total, in_range, decimated)
    got = list(zip(chart.steps, chart.values, chart.timestamps, strict=True))
    assert same(got, rows), (points, x, low, high, len(got), len(rows))
    assert len(got) <= max(points, in_range if not decimated else 0)
    return chart


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_store_keeps_what_the_python_decimation_keeps(store: Store, store_url: str,
                                                          seed: int) -> None:
    n = 4000
    metrics = series(seed, n)
    run_id = record(store, metrics)
    steps = sorted(m.step for m in metrics)
    times = sorted(m.timestamp for m in metrics)
    chosen = 0
    for x, xs in (("step", steps), ("time", times)):
        zoom = (xs[n // 5] + 0.25, xs[n // 2])  # a zoom, not on a value's x at its start
        for low, high in ((None, None), zoom, (None, xs[n // 3]), (xs[n - 100], None)):
            for points in (16, 101, 300, 1800):
                chart = check(store, run_id, points=points, x=x, low=low, high=high,
                              total=n)
                if chart is not None:
                    chosen += 1
                    continue
                # the store leaves the choice to the caller only by time on SQLite
                assert (x, store_url.startswith("sqlite")) == ("time", True)
    assert chosen == (16 if store_url.startswith("sqlite") else 32)


def test_one_step_for_all_and_a_long_page_are_left_to_the_caller(store: Store) -> None:
    flat = record(store, [Metric("loss", float(i % 7), 3, T0 + i) for i in range(50)])
    assert store.metric_chart(flat, "loss", points=16) is None  # spans of equal counts
    few = store.metric_chart(flat, "loss", points=64)
    assert few is not None
    assert not few.decimated
    assert few.steps == [3] * 50
    long = record(store, [Metric("loss", float(i), i, T0 + i) for i in range(300)])
    assert store.metric_chart(long, "loss", points=16, limit=200) is None  # past one page
    chart = store.metric_chart(long[:8], "loss", points=16, limit=300)  # a prefix of the id
    assert chart is not None
    assert chart.decimated
    assert chart.total == 300
    assert (chart.steps[0], chart.steps[-1]) == (0, 299)
    empty = store.metric_chart(long, "nope", points=16)
    assert empty is not None
    assert (empty.total, empty.in_range, empty.steps) == (0, 0, [])


def test_a_chart_of_many_values_reads_few_rows(store: Store, store_url: str) -> None:
    """The store's choice of 10,000 values brings back at most ``points`` rows, the
    troughs of the wave among them."""
    run_id = record(store, [Metric("loss", math.sin(i / 50), i, T0 + i) for i in range(10_000)])
    chart = store.metric_chart(run_id, "loss", points=200)
    assert chart is not None
    assert chart.decimated
    assert len(chart.steps) <= 200
    assert chart.in_range == 10_000
    low = min(chart.values)
    assert low == pytest.approx(-1.0, abs=1e-3)


def test_many_points_and_far_bounds_are_answered(store: Store) -> None:
    """More points than one statement may bind ids for are left to the caller (no "too
    many SQL variables"); a zoom bound past what a bigint holds is read as the end."""
    run_id = record(store, [Metric("loss", float(i % 13), i, T0 + i) for i in range(12_000)])
    assert store.metric_chart(run_id, "loss", points=10_000) is None
    chart = store.metric_chart(run_id, "loss", points=100, low=-1e300, high=1e300)
    assert chart is not None
    assert (chart.in_range, chart.decimated) == (12_000, True)
    assert (chart.steps[0], chart.steps[-1]) == (0, 11_999)
