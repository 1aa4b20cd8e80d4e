"""Ground truth: labels that arrive after a prediction, attached to the served row by id.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Frozen: this file never imports nbmlops' live models.

- ``feedback``: one row per (deployment, served row id), holding the label and what was
  served (model, version, time, prediction, class probabilities); a label sent again
  replaces the row (the unique index makes that an upsert).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(255), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("served_at", sa.Double(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("scores", sa.Text(), nullable=True),
        sa.Column("classes", sa.Text(), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("user", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_deployment_row", "feedback", ["deployment", "row_id"],
                    unique=True)
    op.create_index("ix_feedback_deployment_served", "feedback", ["deployment", "served_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_deployment_served", table_name="feedback")
    op.drop_index("ix_feedback_deployment_row", table_name="feedback")
    op.drop_table("feedback")
