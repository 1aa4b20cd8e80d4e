"""Protected aliases with approval requests; the audit trail hash-chained.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Frozen: this file never imports nbmlops' live models, and keeps its own copy of the
chain's hash (the definition in ``nbmlops.store.audit_chain`` must never change either).

- ``alias_protections``: an alias that moves only through approved requests;
- ``approval_requests`` and ``approval_votes``: the requests and who decided them;
- ``audit_events`` gains ``hash`` and ``prev_hash``; the events already there are chained
  in id order, each one's hash over its content as stored and the previous hash.
"""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_FIELDS = ("time", "user", "host", "action", "model", "alias", "version", "from_version",
           "to_version", "reason", "details", "deployment")
_audit = sa.table("audit_events", *(sa.column(c) for c in ("id", *_FIELDS, "hash",
                                                             "prev_hash")))


def _hash(row: Any, prev: str) -> str:
    content = {name: row[name] for name in _FIELDS}
    content["details"] = json.loads(content["details"])
    content["time"] = float(content["time"])
    content["prev_hash"] = prev
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade() -> None:
    op.create_table(
        "alias_protections",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("approvals", sa.Integer(), nullable=False),
        sa.Column("gates", sa.Text(), nullable=False),
        sa.Column("role", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["registered_models.id"],
                                name="fk_alias_protections_model_id_registered_models"),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_alias_protections"),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=True),
        sa.Column("requested_at", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["registered_models.id"],
                                name="fk_approval_requests_model_id_registered_models"),
        sa.PrimaryKeyConstraint("id", name="pk_approval_requests"),
    )
    op.create_index("ix_approval_requests_alias", "approval_requests",
                    ["model_id", "alias", "status"])
    op.create_table(
        "approval_votes",
        sa.Column("request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["approval_requests.id"], ondelete="CASCADE",
                                name="fk_approval_votes_request_id_approval_requests"),
        sa.PrimaryKeyConstraint("request_id", "user", name="pk_approval_votes"),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    prev = _GENESIS
    rows = conn.execute(sa.select(_audit).order_by(_audit.c.id)).mappings().all()
    for row in rows:
        digest = _hash(row, prev)
        conn.execute(sa.update(_audit).where(_audit.c.id == row["id"])
                     .values(hash=digest, prev_hash=prev))
        prev = digest


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("prev_hash")
        batch.drop_column("hash")
    op.drop_table("approval_votes")
    op.drop_index("ix_approval_requests_alias", table_name="approval_requests")
    op.drop_table("approval_requests")
    op.drop_table("alias_protections")
