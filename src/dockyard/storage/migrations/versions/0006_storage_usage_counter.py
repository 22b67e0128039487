"""storage usage counter kept by triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 21:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("blobs", "manifests")


def upgrade() -> None:
    op.create_table(
        "storage_usage",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_usage")),
    )
    op.execute(
        "INSERT INTO storage_usage (id, bytes) VALUES (1, "
        "(SELECT COALESCE(SUM(size), 0) FROM blobs) + "
        "(SELECT COALESCE(SUM(size), 0) FROM manifests))"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION dockyard_count_storage() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    UPDATE storage_usage SET bytes = bytes + NEW.size WHERE id = 1;
                    RETURN NEW;
                END IF;
                UPDATE storage_usage SET bytes = bytes - OLD.size WHERE id = 1;
                RETURN OLD;
            END
            $$ LANGUAGE plpgsql
            """
        )
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_count_storage AFTER INSERT OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION dockyard_count_storage()"
            )
        return
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} BEGIN "
            "UPDATE storage_usage SET bytes = bytes + NEW.size WHERE id = 1; END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} BEGIN "
            "UPDATE storage_usage SET bytes = bytes - OLD.size WHERE id = 1; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER {table}_count_storage ON {table}")
        op.execute("DROP FUNCTION dockyard_count_storage()")
    else:
        for table in _TABLES:
            op.execute(f"DROP TRIGGER {table}_count_insert")
            op.execute(f"DROP TRIGGER {table}_count_delete")
    op.drop_table("storage_usage")
