"""Monitor checks: a record of their own, each keyed by the run (kind ``monitor``) that made it.

A check is written once, whole, when it is over: the window it judged, what it found and
the incident it belongs to. The incident number is given by the caller from the previous
check (read with :meth:`SqlMonitorChecks.last_monitor_check`); two checks of one monitor
do not run at once (the scheduler's lock), and a check is never rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from nbmlops._types import MonitorCheck, NewMonitorCheck, RecordPage, utc
from nbmlops.errors import QueryError
from nbmlops.store.sql.checks import _page_args, made_by, newest_page
from nbmlops.store.sql.plumbing import SqlBase, chunks, monitor_checks_t, runs_t

_STATUSES = ("ok", "alert", "skipped")


class SqlMonitorChecks(SqlBase):
    """Monitor checks, newest first by monitor."""

    def record_monitor_check(self, check: NewMonitorCheck) -> MonitorCheck:
        """Record the check made by run ``check.run_id`` (of kind ``monitor``); return it
        as read back. Raises RunNotFoundError for a run that is missing, not a monitor run
        or already has its check, and QueryError for a status or count that cannot hold."""
        if check.status not in _STATUSES:
            raise QueryError(f"status {check.status!r}: give one of {', '.join(_STATUSES)}",
                             expression=str(check.status))
        if check.rows < 0:
            raise QueryError(f"rows {check.rows}: give 0 or more", expression=str(check.rows))
        details = json.dumps(dict(check.details), sort_keys=True, ensure_ascii=False,
                             allow_nan=False, default=str)

        def work(conn: Connection) -> MonitorCheck:
            made_by(conn, check.run_id, "monitor", monitor_checks_t)
            start = conn.execute(select(runs_t.c.start_time).where(
                runs_t.c.id == check.run_id)).scalar_one()
            conn.execute(insert(monitor_checks_t).values(
                run_id=check.run_id, monitor=check.monitor, time=start, model=check.model,
                deployment=check.deployment, window_start=check.window_start,
                window_end=check.window_end, rows=check.rows, status=check.status,
                reasons=json.dumps(list(check.reasons), ensure_ascii=False),
                incident=check.incident, alerted=check.alerted, details=details))
            return self._monitor_checks(conn, [check.run_id])[0]

        return self._write(work)

    def list_monitor_checks(self, *, monitor: str | None = None, limit: int | None = 50,
                            offset: int = 0) -> RecordPage[MonitorCheck]:
        """A page of checks (of one monitor, when named), newest first, with the count of
        all that match. ``limit=None`` returns every match."""
        _page_args(limit, offset)

        def work(conn: Connection) -> RecordPage[MonitorCheck]:
            return newest_page(conn, monitor_checks_t, monitor_checks_t.c.time,
                               None if monitor is None
                               else monitor_checks_t.c.monitor == monitor,
                               limit, offset, lambda ids: self._monitor_checks(conn, ids))

        return self._read(work)

    def last_monitor_check(self, monitor: str, *, judged: bool = False
                           ) -> MonitorCheck | None:
        """The newest check of ``monitor`` (``judged=True``: the newest that was not
        skipped), or None."""
        def work(conn: Connection) -> MonitorCheck | None:
            stmt = (select(monitor_checks_t.c.run_id)
                    .where(monitor_checks_t.c.monitor == monitor)
                    .order_by(monitor_checks_t.c.time.desc(), monitor_checks_t.c.run_id.desc())
                    .limit(1))
            if judged:
                stmt = stmt.where(monitor_checks_t.c.status != "skipped")
            found = conn.execute(stmt).scalar()
            return None if found is None else self._monitor_checks(conn, [found])[0]

        return self._read(work)

    def _monitor_checks(self, conn: Connection, run_ids: Sequence[str]) -> list[MonitorCheck]:
        rows: dict[str, Any] = {}
        for part in chunks(run_ids):
            for row in conn.execute(select(monitor_checks_t).where(
                    monitor_checks_t.c.run_id.in_(part))).mappings():
                rows[row["run_id"]] = row
        out = []
        for run_id in run_ids:
            found = rows.get(run_id)
            if found is None:
                continue
            row = found
            out.append(MonitorCheck(
                run_id=run_id, monitor=row["monitor"],
                time=utc(row["time"]),  # type: ignore[arg-type]
                model=row["model"], deployment=row["deployment"],
                window_start=utc(row["window_start"]),
                window_end=utc(row["window_end"]),  # type: ignore[arg-type]
                rows=int(row["rows"]), status=row["status"],
                reasons=tuple(json.loads(row["reasons"])),
                incident=row["incident"], alerted=bool(row["alerted"]),
                details=json.loads(row["details"])))
        return out
