"""the commit trigger of saved tasks: the last commit seen and the push webhook's secret

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_commit", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("last_commit")
