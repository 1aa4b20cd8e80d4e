"""The audit trail: appending events to the hash chain, reading them, verifying the chain.

Every change to the registry, its protections and approvals, and deployments is appended
here by :func:`audit`, inside the transaction that made the change. See
:mod:`nbmlops.store.audit_chain` for how an event's hash is made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from nbmlops._types import Actor, AuditEvent, AuditVerification, utc
from nbmlops.store.audit_chain import GENESIS, event_hash, verify
from nbmlops.store.sql import team
from nbmlops.store.sql.plumbing import SqlBase, audit_t

_AUDIT_LOCK_KEY = 0x6E626175  # "nbau": one writer appends to the audit chain at a time


def audit(conn: Connection, actor: Actor, action: str, model: str, *,
          alias: str | None = None, version: int | None = None,
          from_version: int | None = None, to_version: int | None = None,
          reason: str | None = None, details: Mapping[str, Any] | None = None,
          deployment: str | None = None) -> AuditEvent:
    """Append an audit event to the chain (inside the transaction that made the change).

    The last event's hash is read and the new one appended under a lock held until the
    transaction ends (SQLite: the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: a
    transaction advisory lock), so two writers never fork the chain.

    In team mode (PostgreSQL after ``nbmlops team init``) the database writes the event:
    the trigger on the table just changed recorded it (its user, time and hash taken in
    the database), and this returns it.
    """
    if team.team_mode(conn):
        event_id = team.last_event_id(conn)
        if event_id is None:
            raise AssertionError(f"no audit event was recorded for {action} {model}")
        row = conn.execute(select(audit_t).where(audit_t.c.id == event_id)).mappings().one()
        return audit_event(row)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    prev = conn.execute(select(audit_t.c.hash).order_by(audit_t.c.id.desc()).limit(1)
                        ).scalar() or GENESIS
    values: dict[str, Any] = dict(
        time=time.time(), user=actor.user, host=actor.host, action=action, model=model,
        alias=alias, version=version, from_version=from_version, to_version=to_version,
        reason=reason, details=json.dumps(dict(details or {}), sort_keys=True),
        deployment=deployment)
    values["prev_hash"] = prev
    values["hash"] = event_hash(values, prev)
    event_id = conn.execute(audit_t.insert().values(**values).returning(audit_t.c.id)
                            ).scalar_one()
    return audit_event({**values, "id": event_id})


def audit_event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=int(row["id"]), time=utc(row["time"]), user=row["user"],  # type: ignore[arg-type]
        host=row["host"], action=row["action"], model=row["model"], alias=row["alias"],
        version=row["version"], from_version=row["from_version"],
        to_version=row["to_version"], reason=row["reason"], details=json.loads(row["details"]),
        deployment=row["deployment"], hash=row["hash"], prev_hash=row["prev_hash"])


class SqlAudit(SqlBase):
    """Reading the audit trail and re-computing its chain."""

    def audit_events(self, model: str | None = None, *, alias: str | None = None,
                     deployment: str | None = None, user: str | None = None,
                     since: datetime | None = None, limit: int | None = None
                     ) -> list[AuditEvent]:
        stmt = select(audit_t)
        if model is not None:
            stmt = stmt.where(audit_t.c.model == model)
        if alias is not None:  # an alias's history: its moves, not the deployments following it
            stmt = stmt.where(audit_t.c.alias == alias, audit_t.c.deployment.is_(None))
        if deployment is not None:
            stmt = stmt.where(audit_t.c.deployment == deployment)
        if user is not None:
            stmt = stmt.where(audit_t.c.user == user)
        if since is not None:
            stmt = stmt.where(audit_t.c.time >= since.timestamp())
        if limit is not None:  # the newest ``limit``, still oldest first
            newest = stmt.order_by(audit_t.c.id.desc()).limit(limit).subquery()
            stmt = select(newest).order_by(newest.c.id)
        else:
            stmt = stmt.order_by(audit_t.c.id)
        return self._read(lambda c: [audit_event(r) for r in c.execute(stmt).mappings()])

    def verify_audit(self, *, anchor: str | None = None) -> AuditVerification:
        def work(conn: Connection) -> AuditVerification:
            rows = conn.execute(select(audit_t).order_by(audit_t.c.id)).mappings()
            return verify(rows, anchor=anchor)

        return self._read(work)

    def audit_head(self) -> tuple[int, str] | None:
        def work(conn: Connection) -> tuple[int, str] | None:
            row = conn.execute(select(audit_t.c.id, audit_t.c.hash)
                               .order_by(audit_t.c.id.desc()).limit(1)).first()
            return None if row is None or row[1] is None else (int(row[0]), str(row[1]))

        return self._read(work)


__all__ = ["SqlAudit", "audit", "audit_event"]
