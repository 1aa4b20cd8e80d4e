"""An index on runs (kind, start_time): listings filter by kind (a search's candidates are
left out), and without it counting a page's total read the whole runs table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Frozen: this file never imports nbmlops' live models.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_kind_start", "runs", ["kind", "start_time"])


def downgrade() -> None:
    op.drop_index("ix_runs_kind_start", table_name="runs")
