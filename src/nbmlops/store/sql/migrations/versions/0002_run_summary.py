"""runs.summary: a run's params, latest metrics and tags in one blob, for fast listing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Frozen: this file never imports nbmlops' live models. The column starts NULL for
existing runs; nbmlops fills it right after upgrading (readers fall back on the
params, latest_metrics and tags tables for any run without one).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("summary", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("summary")
