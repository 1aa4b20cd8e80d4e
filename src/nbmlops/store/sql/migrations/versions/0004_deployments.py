"""Deployments: model servers, and their events in the audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Frozen: this file never imports nbmlops' live models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("active_name", sa.String(255), nullable=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("process_token", sa.String(255), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("user", sa.String(255), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("stopped_at", sa.Double(), nullable=True),
        sa.Column("heartbeat_at", sa.Double(), nullable=True),
        sa.Column("token_env", sa.String(255), nullable=True),
        sa.Column("log_dir", sa.Text(), nullable=True),
        sa.Column("server_log", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("options", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.UniqueConstraint("active_name", name="uq_deployments_active_name"),
    )
    op.create_index("ix_deployments_name", "deployments", ["name", "started_at"])
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("deployment", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("deployment")
    op.drop_table("deployments")
