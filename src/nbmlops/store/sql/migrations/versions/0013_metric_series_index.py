"""A covering index for a metric's history: (run_id, key, step, timestamp, id, value,
is_nan) in place of (run_id, key, step, timestamp).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Frozen: this file never imports nbmlops' live models.

A chart reads every point of one metric of a run in (step, timestamp, id) order; with the
values in the index that read walks the index alone instead of looking up every row in the
table (100,000 points: a table lookup each). The old index is a prefix of the new one, so
it goes.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_metrics_series", "metrics",
                    ["run_id", "key", "step", "timestamp", "id", "value", "is_nan"])
    op.drop_index("ix_metrics_run_key_step", table_name="metrics")


def downgrade() -> None:
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step", "timestamp"])
    op.drop_index("ix_metrics_series", table_name="metrics")
