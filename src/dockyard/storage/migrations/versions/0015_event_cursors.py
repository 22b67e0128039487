"""event cursors: `webhook_cursor` becomes `event_cursors`, one row per outbox consumer

The table served the base-image triggers as well as the webhooks. The webhooks' row, named
`events`, is now `webhooks`; every position is kept. A new table rather than a rename, so
that the primary key's name follows the table's on SQLite and PostgreSQL alike.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_cursors")),
    )
    op.execute(
        "INSERT INTO event_cursors (name, seq) SELECT "
        "CASE WHEN name = 'events' THEN 'webhooks' ELSE name END, seq FROM webhook_cursor"
    )
    op.drop_table("webhook_cursor")


def downgrade() -> None:
    op.create_table(
        "webhook_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_webhook_cursor")),
    )
    op.execute(
        "INSERT INTO webhook_cursor (name, seq) SELECT "
        "CASE WHEN name = 'webhooks' THEN 'events' ELSE name END, seq FROM event_cursors"
    )
    op.drop_table("event_cursors")
