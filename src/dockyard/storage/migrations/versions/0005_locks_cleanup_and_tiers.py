"""locks cleanup and tiers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 20:24:55.237961
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
    )
    op.create_table(
        "recycle_bin",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=True),
        sa.Column("media_type", sa.String(length=255), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=True),
        sa.Column("deleted_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recycle_bin")),
    )
    with op.batch_alter_table("recycle_bin", schema=None) as batch_op:
        batch_op.create_index("ix_recycle_bin_expires", ["expires_at"], unique=False)
        batch_op.create_index("ix_recycle_bin_repository", ["repository", "digest"], unique=False)

    op.create_table(
        "recycle_bin_blobs",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("blob_digest", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["recycle_bin.id"],
            name=op.f("fk_recycle_bin_blobs_entry_id_recycle_bin"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "blob_digest", name=op.f("pk_recycle_bin_blobs")),
    )
    with op.batch_alter_table("recycle_bin_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_recycle_bin_blobs_blob", ["blob_digest"], unique=False)

    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("architecture", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("os", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("delete_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("write_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("read_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("list_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("quarantine_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("untagged_at", sa.Float(), nullable=True))

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("delete_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("write_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("read_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("list_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("tag_immutability", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("delete_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("write_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("read_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("list_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_column("list_enabled")
        batch_op.drop_column("read_enabled")
        batch_op.drop_column("write_enabled")
        batch_op.drop_column("delete_enabled")
        batch_op.drop_column("created_at")

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("tag_immutability")
        batch_op.drop_column("list_enabled")
        batch_op.drop_column("read_enabled")
        batch_op.drop_column("write_enabled")
        batch_op.drop_column("delete_enabled")
        batch_op.drop_column("updated_at")

    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_column("untagged_at")
        batch_op.drop_column("quarantine_state")
        batch_op.drop_column("list_enabled")
        batch_op.drop_column("read_enabled")
        batch_op.drop_column("write_enabled")
        batch_op.drop_column("delete_enabled")
        batch_op.drop_column("os")
        batch_op.drop_column("architecture")

    with op.batch_alter_table("recycle_bin_blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_recycle_bin_blobs_blob")

    op.drop_table("recycle_bin_blobs")
    with op.batch_alter_table("recycle_bin", schema=None) as batch_op:
        batch_op.drop_index("ix_recycle_bin_repository")
        batch_op.drop_index("ix_recycle_bin_expires")

    op.drop_table("recycle_bin")
    op.drop_table("rate_buckets")
