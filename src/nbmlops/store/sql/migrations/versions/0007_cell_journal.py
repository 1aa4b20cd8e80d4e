"""The cell journal: every executed cell of a kernel session, and what each run stood on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Frozen: this file never imports nbmlops' live models.

New tables only; existing runs have no slice (they were recorded without the journal).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_sources",
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source_hash", name="pk_journal_sources"),
    )
    op.create_table(
        "journal_entries",
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("cell_id", sa.String(255), nullable=True),
        sa.Column("execution_count", sa.Integer(), nullable=True),
        sa.Column("notebook_path", sa.Text(), nullable=True),
        sa.Column("reads", sa.Text(), nullable=False),
        sa.Column("binds", sa.Text(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["source_hash"], ["journal_sources.source_hash"],
                                name="fk_journal_entries_source_hash_journal_sources"),
        sa.PrimaryKeyConstraint("session_id", "seq", name="pk_journal_entries"),
    )
    op.create_index("ix_journal_entries_time", "journal_entries", ["time"])
    op.create_table(
        "run_slices",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_run_slices_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", name="pk_run_slices"),
    )
    op.create_table(
        "run_slice_cells",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run_slices.run_id"], ondelete="CASCADE",
                                name="fk_run_slice_cells_run_id_run_slices"),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_run_slice_cells"),
    )
    op.create_table(
        "run_flags",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run_slices.run_id"], ondelete="CASCADE",
                                name="fk_run_flags_run_id_run_slices"),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_run_flags"),
    )


def downgrade() -> None:
    for table in ("run_flags", "run_slice_cells", "run_slices", "journal_entries",
                  "journal_sources"):
        op.drop_table(table)
