"""network rules: IP addresses and CIDR ranges allowed in when the default action is Deny

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_rules",
        sa.Column("ip_range", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("ip_range", name=op.f("pk_network_rules")),
    )


def downgrade() -> None:
    op.drop_table("network_rules")
    op.execute(
        "DELETE FROM registry_settings "
        "WHERE name IN ('network_default_action', 'network_rules_generation')"
    )
