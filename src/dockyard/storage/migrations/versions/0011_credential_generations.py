"""credential generations of users and tokens: bumped by password resets and regenerations
and by disabling, so that refresh and access tokens issued before stop working

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("users", "tokens"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("credential_generation", sa.Integer(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    for table in ("tokens", "users"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("credential_generation")
