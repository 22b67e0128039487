"""saved tasks: why the last trigger could not start a run, and when

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_trigger_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_trigger_error_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("last_trigger_error_at")
        batch_op.drop_column("last_trigger_error")
