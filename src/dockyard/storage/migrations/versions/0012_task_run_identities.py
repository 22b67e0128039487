"""the own identity of a task run: its credential's repositories and generation

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_run_identities",
        sa.Column("run_id", sa.String(16), nullable=False),
        sa.Column("requester", sa.String(160), nullable=False),
        sa.Column("grants", sa.Text(), nullable=False),
        sa.Column("generation", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["task_runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id"),
    )


def downgrade() -> None:
    op.drop_table("task_run_identities")
