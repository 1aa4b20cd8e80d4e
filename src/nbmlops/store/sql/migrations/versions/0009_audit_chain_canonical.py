"""The audit chain's canonical content becomes one PostgreSQL can build in a trigger.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Frozen: this file never imports nbmlops' live models, and keeps its own copies of both
hash definitions (0008's and the one in ``nbmlops.store.audit_chain`` from now on).

The events already there are re-chained in id order with the new definition, as long as
they verify with the old one: from the first event that does not (an event changed or
removed before this upgrade), nothing is rewritten, so ``nbmlops audit verify`` still names
it afterwards. No DDL: team mode's roles, policies and triggers (PostgreSQL only) are
installed by ``nbmlops team init``, not by an upgrade.
"""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_FIELDS = ("time", "user", "host", "action", "model", "alias", "version", "from_version",
           "to_version", "reason", "details", "deployment")
_audit = sa.table("audit_events", *(sa.column(c) for c in ("id", *_FIELDS, "hash",
                                                             "prev_hash")))


def _old_hash(row: Any, prev: str) -> str:
    content = {name: row[name] for name in _FIELDS}
    content["details"] = json.loads(content["details"])
    content["time"] = float(content["time"])
    content["prev_hash"] = prev
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _int(value: Any) -> Any:
    return None if value is None else int(value)


def _new_hash(row: Any, prev: str) -> str:
    values = [prev, round(float(row["time"]) * 1_000_000), row["user"], row["host"],
              row["action"], row["model"], row["alias"], _int(row["version"]),
              _int(row["from_version"]), _int(row["to_version"]), row["reason"],
              row["details"], row["deployment"]]
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _rechain(verify: Any, write: Any) -> None:
    conn = op.get_bind()
    prev_old = prev_new = _GENESIS
    rows = conn.execute(sa.select(_audit).order_by(_audit.c.id)).mappings().all()
    for row in rows:
        if row["prev_hash"] != prev_old or row["hash"] != verify(row, prev_old):
            return  # broken before the upgrade: leave it for `audit verify` to name
        digest = write(row, prev_new)
        conn.execute(sa.update(_audit).where(_audit.c.id == row["id"])
                     .values(hash=digest, prev_hash=prev_new))
        prev_old, prev_new = row["hash"], digest


def upgrade() -> None:
    _rechain(verify=_old_hash, write=_new_hash)


def downgrade() -> None:
    _rechain(verify=_new_hash, write=_old_hash)
