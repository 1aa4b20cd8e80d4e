"""What a chart draws of a long metric, chosen in the database.

A chart of a few hundred pixels needs of 100,000 values the first and the last and, in each
of equal spans of x, the smallest and the largest value and the first NaN (the server's
``decimation``: about two points per pixel). Reading all 100,000 rows into Python to choose
them costs most of a chart's answer; here the store chooses them and reads ~1,800 rows:

1. a count and whether any value is NaN or ±inf, over the x range (one pass over the
   covering index ``ix_metrics_series``, no row leaves the database), the first and the
   last step (a seek each);
2. each span of steps' smallest and largest value (and first gap), found by a seek into the
   index per span: no sort, no GROUP BY over all the rows;
3. those rows by id.

By step (the index's order) each span is a seek; by time (not the index's order) PostgreSQL
groups the rows by span in one pass, and SQLite, which has no way to say which row of a
group it wants but min()'s, leaves the choice to the caller (``None``), as where every value
has the same x (spans of equal counts there).
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import Double, and_, func, not_, select, text
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.engine import Connection

from nbmlops._types import MetricChart
from nbmlops.store.sql.plumbing import metrics_t

_INF = math.inf
_BIG = 2**63 - 1  # the largest step a bigint holds
_FEW = 5_000  # rows read here as SQLAlchemy rows: more are faster through the page

# per span of steps [s0, s1]: the id of its first smallest and first largest finite value
# (NaN is stored as NULL, so the comparisons with ±inf leave out NaN and ±inf alike), and
# of its first gap (NaN or ±inf): a seek into ix_metrics_series each
_SQLITE_EXTREMES = """
SELECT
  (SELECT id FROM (SELECT MIN(m.value), m.id FROM metrics m
     WHERE m.run_id = :run AND m.key = :key AND m.step BETWEEN b.s0 AND b.s1
       AND m.value > :ninf AND m.value < :inf)),
  (SELECT id FROM (SELECT MAX(m.value), m.id FROM metrics m
     WHERE m.run_id = :run AND m.key = :key AND m.step BETWEEN b.s0 AND b.s1
       AND m.value > :ninf AND m.value < :inf)),
  {gap}
FROM (SELECT json_extract(value, '$[0]') AS s0, json_extract(value, '$[1]') AS s1
      FROM json_each(:spans)) b
"""
# SQLite's min()/max() takes the other columns from the first row at the extreme in the
# scan's (index) order; PostgreSQL says which row it wants
_POSTGRES_EXTREMES = """
SELECT
  (SELECT m.id FROM metrics m
     WHERE m.run_id = :run AND m.key = :key AND m.step BETWEEN b.s0 AND b.s1
       AND m.value > :ninf AND m.value < :inf
     ORDER BY m.value, m.step, m.timestamp, m.id LIMIT 1),
  (SELECT m.id FROM metrics m
     WHERE m.run_id = :run AND m.key = :key AND m.step BETWEEN b.s0 AND b.s1
       AND m.value > :ninf AND m.value < :inf
     ORDER BY m.value DESC, m.step, m.timestamp, m.id LIMIT 1),
  {gap}
FROM unnest(CAST(:starts AS BIGINT[]), CAST(:ends AS BIGINT[])) AS b(s0, s1)
"""
_GAP = """(SELECT m.id FROM metrics m
     WHERE m.run_id = :run AND m.key = :key AND m.step BETWEEN b.s0 AND b.s1
       AND (m.value IS NULL OR m.value <= :ninf OR m.value >= :inf)
     ORDER BY m.step, m.timestamp, m.id LIMIT 1)"""


def metric_chart(conn: Connection, run_id: str, key: str, *, points: int, x: str,
                 low: float | None, high: float | None, limit: int | None
                 ) -> MetricChart | None:
    """See :meth:`nbmlops.store.base.RunStore.metric_chart` (``run_id`` in full)."""
    if x not in ("step", "time") or (x == "time" and conn.dialect.name == "sqlite"):
        return None
    c = metrics_t.c
    where = [c.run_id == run_id, c.key == key]
    whole = low is None and high is None
    total = None if whole else conn.execute(
        select(func.count()).select_from(metrics_t).where(*where)).scalar_one()
    along, order = ((c.step, (c.step, c.timestamp, c.id)) if x == "step"
                    else (c.timestamp, (c.timestamp, c.step, c.id)))
    if x == "step":
        # steps are whole numbers: a range of reals is the whole steps in it (and so an
        # index range on PostgreSQL too, where a bigint compared with a double is not)
        # (held within a bigint: a bound past it would not bind on SQLite)
        low = None if low is None else max(min(math.ceil(low), _BIG), -_BIG)
        high = None if high is None else max(min(math.floor(high), _BIG), -_BIG)
    if low is not None:
        where.append(along >= low)
    if high is not None:
        where.append(along <= high)
    # min/max of step are two seeks into the index; of time, part of the one pass
    ends = ([select(func.min(along)).where(*where).scalar_subquery(),
             select(func.max(along)).where(*where).scalar_subquery()] if x == "step"
            else [func.min(along), func.max(along)])
    in_range, finite, smallest, largest, first, last = conn.execute(
        select(func.count(), func.count(c.value), func.min(c.value), func.max(c.value),
               *ends).where(*where)).one()
    total = in_range if total is None else total
    if limit is not None and total > limit:
        return None
    if in_range <= points:  # all of them: a zoom's few here, many as the caller reads them
        return _chart(total, in_range, False, _rows(conn, where, order)) \
            if in_range <= _FEW else None
    if points > _FEW:  # more ids than one statement binds: the caller reads them all
        return None
    gaps = finite < in_range or smallest == -_INF or largest == _INF
    buckets = max(1, (points - 2) // (3 if gaps else 2))
    if first == last:  # one x for all: spans of equal counts, not of x
        return None
    if x == "step":
        ids = _extremes(conn, run_id, key, *_spans(int(first), int(last), buckets), gaps)
    else:
        ids = _time_extremes(conn, where, float(first), float(last), buckets)
    for ordered in (order, tuple(o.desc() for o in order)):
        ids.add(conn.execute(select(c.id).where(*where).order_by(*ordered).limit(1)
                             ).scalar_one())
    return _chart(total, in_range, True, _rows(conn, [c.id.in_(sorted(ids))], order))


def _spans(first: int, last: int, buckets: int) -> tuple[list[int], list[int]]:
    """The steps [start, end] of each span of the decimation's ``buckets`` equal spans of
    ``first``..``last`` that holds a whole step: where its formula (float64, truncated)
    puts each step, found exactly."""
    import numpy as np

    lo = float(first)
    scale = buckets / (float(last) - lo)

    def bucket(steps: Any) -> Any:
        return np.minimum(((steps.astype(np.float64) - lo) * scale).astype(np.int64),
                          buckets - 1)

    k = np.arange(1, buckets, dtype=np.int64)
    start = np.clip(first + np.floor(k / scale).astype(np.int64), first + 1, last + 1)
    for _ in range(64):  # the guess is off by a rounding at most: a step or two
        back = (start > first + 1) & (bucket(start - 1) >= k)
        on = (start <= last) & (bucket(start) < k)
        if not (back.any() or on.any()):
            break
        start = start - back + on
    starts = np.r_[first, start]
    ends = np.r_[start - 1, last]
    held = starts <= ends
    return starts[held].tolist(), ends[held].tolist()


def _extremes(conn: Connection, run_id: str, key: str, starts: list[int], ends: list[int],
              gaps: bool) -> set[int]:
    params: dict[str, Any] = {"run": run_id, "key": key, "inf": _INF, "ninf": -_INF}
    gap = _GAP if gaps else "NULL"
    if conn.dialect.name == "sqlite":
        statement = _SQLITE_EXTREMES.format(gap=gap)
        params["spans"] = json.dumps([[s, e] for s, e in zip(starts, ends, strict=True)])
    else:
        statement = _POSTGRES_EXTREMES.format(gap=gap)
        params.update(starts=starts, ends=ends)
    return {i for row in conn.execute(text(statement), params) for i in row if i is not None}


def _time_extremes(conn: Connection, where: list[Any], lo: float, hi: float,
                   buckets: int) -> set[int]:
    """The same choice by time (PostgreSQL): one pass grouping the rows by span, each
    span's first extreme as the least of arrays ordered (value, then the x order)."""
    c = metrics_t.c
    span = func.least(func.floor((c.timestamp - lo) * (buckets / (hi - lo))), buckets - 1)
    finite = and_(c.value > -_INF, c.value < _INF)
    ordered = [sql_cast(col, Double) for col in (c.timestamp, c.step, c.id)]
    rows = conn.execute(select(
        func.min(array([c.value, *ordered])).filter(finite)[4],
        func.max(array([c.value, *(-col for col in ordered)])).filter(finite)[4],
        func.min(array(ordered)).filter(not_(finite) | c.value.is_(None))[3],
    ).where(*where).group_by(span)).all()
    return {abs(int(i)) for row in rows for i in row if i is not None}


def _rows(conn: Connection, where: list[Any], order: tuple[Any, ...]) -> list[Any]:
    c = metrics_t.c
    return list(conn.execute(select(c.step, c.value, c.is_nan, c.timestamp).where(*where)
                             .order_by(*order)).all())


def _chart(total: int, in_range: int, decimated: bool, rows: list[Any]) -> MetricChart:
    return MetricChart(
        total=total, in_range=in_range, decimated=decimated,
        steps=[r[0] for r in rows],
        values=[math.nan if r[2] or r[1] is None else float(r[1]) for r in rows],
        timestamps=[float(r[3]) for r in rows])
