"""Monitor checks as records of their own.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03

Frozen: this file never imports nbmlops' live models.

``monitor_checks``: one row per check of a monitor (``nbmlops monitor run``), keyed by
the run (kind ``monitor``) that made it: the version judged, the window, the rows, the
status (ok, alert, skipped), the reasons, the incident it belongs to, whether it alerted,
and its figures as JSON.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_checks",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("monitor", sa.String(255), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("deployment", sa.String(255), nullable=True),
        sa.Column("window_start", sa.Double(), nullable=True),
        sa.Column("window_end", sa.Double(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("incident", sa.Integer(), nullable=True),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_monitor_checks_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", name="pk_monitor_checks"),
    )
    op.create_index("ix_monitor_checks_monitor_time", "monitor_checks", ["monitor", "time"])


def downgrade() -> None:
    op.drop_index("ix_monitor_checks_monitor_time", table_name="monitor_checks")
    op.drop_table("monitor_checks")
