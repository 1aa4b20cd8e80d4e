"""The audit trail as a hash chain: how an event's hash is made, and how the chain is checked.

Each event stores ``hash = sha256(canonical content)``, and the canonical content covers
the previous event's hash (``prev_hash``; the first event follows :data:`GENESIS`). An
event edited afterwards no longer matches its hash; an event removed, or two swapped,
breaks the link from the next one to the one before; events removed from the end are
caught against a head hash anchored elsewhere (``nbmlops audit head``).

The canonical content (revision 0009) is one compact JSON array, simple enough for
PostgreSQL to build in the trigger that writes events in team mode
(:mod:`nbmlops.store.sql.team`) exactly as Python builds it here::

    [prev_hash, microseconds, user, host, action, model, alias, version, from_version,
     to_version, reason, details, deployment]

``microseconds`` is ``round(time * 1e6)`` (half to even, as PostgreSQL's ``round`` of a
double), ``details`` the JSON text as stored; strings are JSON strings (no ASCII escaping),
missing values ``null``. This definition is frozen: migration 0009 re-chains earlier events
with a copy of it, and changing it breaks every chain. The event's id is not part of it:
order is what ``prev_hash`` binds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from nbmlops._types import AuditVerification

GENESIS = "0" * 64
FIELDS = ("time", "user", "host", "action", "model", "alias", "version", "from_version",
          "to_version", "reason", "details", "deployment")


def canonical(row: Mapping[Any, Any], prev_hash: str) -> str:
    """The text an event's hash is taken of (see the module's docstring)."""
    details = row["details"]
    values = [prev_hash, round(float(row["time"]) * 1_000_000), row["user"], row["host"],
              row["action"], row["model"], row["alias"], _int(row["version"]),
              _int(row["from_version"]), _int(row["to_version"]), row["reason"],
              details if isinstance(details, str) else json.dumps(details, sort_keys=True),
              row["deployment"]]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def event_hash(row: Mapping[Any, Any], prev_hash: str) -> str:
    """The hash of one event (its stored column values) following ``prev_hash``."""
    return hashlib.sha256(canonical(row, prev_hash).encode()).hexdigest()


def describe(row: Mapping[Any, Any]) -> str:
    """``#7 (promote churn@production by alice, 2026-12-03T06:10:00+00:00)``."""
    target = row["model"] + (f"@{row['alias']}" if row["alias"] else "")
    when = datetime.fromtimestamp(float(row["time"]), tz=UTC).isoformat(timespec="seconds")
    return f"#{row['id']} ({row['action']} {target} by {row['user'] or '?'}, {when})"


def verify(rows: Iterable[Mapping[Any, Any]], *, anchor: str | None = None
           ) -> AuditVerification:
    """Re-compute the chain over ``rows`` (every event, in id order); the first event at
    fault, or ok. ``anchor``: a head hash recorded earlier, which must still be in the
    chain."""
    prev = GENESIS
    count = 0
    seen_anchor = anchor is None or anchor == GENESIS
    last: Mapping[Any, Any] | None = None
    for row in rows:
        count += 1
        if row["hash"] is None:
            return _bad(count, prev, row, f"audit event {describe(row)} has no hash: it was "
                        "written outside nbmlops")
        if row["prev_hash"] != prev:
            after = f"it should follow {describe(last)}" if last is not None else \
                "it should be the first event"
            return _bad(count, prev, row, f"the audit chain breaks at event {describe(row)}: "
                        "an event before it was removed or events were reordered "
                        f"({after})")
        if event_hash(row, prev) != row["hash"]:
            return _bad(count, prev, row, f"audit event {describe(row)} was changed: its "
                        "content no longer matches its hash")
        prev = row["hash"]
        seen_anchor = seen_anchor or prev == anchor
        last = row
    if not seen_anchor:
        assert anchor is not None
        return AuditVerification(
            ok=False, events=count, head=prev if count else None, first_bad=None,
            problem=f"the anchored head {anchor[:16]}… is not in the audit chain: events "
                    "were removed from its end, or the chain was rewritten")
    return AuditVerification(ok=True, events=count, head=prev if count else None)


def _bad(count: int, prev: str, row: Mapping[Any, Any], problem: str) -> AuditVerification:
    return AuditVerification(ok=False, events=count, head=prev, first_bad=int(row["id"]),
                             problem=problem)


__all__ = ["FIELDS", "GENESIS", "canonical", "describe", "event_hash", "verify"]
