"""saved tasks, their timers and registry credentials; runs name their task and trigger

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_name", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("trigger_detail", sa.String(length=300), nullable=True))
        batch_op.create_index("ix_task_runs_task_name", ["task_name", "seq"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("file", sa.String(length=1024), nullable=True),
        sa.Column("cmd", sa.Text(), nullable=True),
        sa.Column("images", sa.Text(), nullable=False),
        sa.Column("task_values", sa.Text(), nullable=False),
        sa.Column("secret_values", sa.Text(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=True),
        sa.Column("engine", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "commit_trigger_enabled", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column(
            "base_image_trigger_enabled", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column(
            "base_image_trigger_type",
            sa.String(length=16),
            server_default="Runtime",
            nullable=False,
        ),
        sa.Column("git_access_token", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tasks")),
    )
    op.create_table(
        "task_timers",
        sa.Column("task", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_fired_at", sa.Float(), nullable=True),
        sa.Column("last_run_id", sa.String(length=16), nullable=True),
        sa.Column("next_due", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task"], ["tasks.name"], name=op.f("fk_task_timers_task_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task", "name", name=op.f("pk_task_timers")),
    )
    with op.batch_alter_table("task_timers", schema=None) as batch_op:
        batch_op.create_index("ix_task_timers_next_due", ["enabled", "next_due"], unique=False)
    op.create_table(
        "task_credentials",
        sa.Column("task", sa.String(length=50), nullable=False),
        sa.Column("login_server", sa.String(length=255), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task"],
            ["tasks.name"],
            name=op.f("fk_task_credentials_task_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task", "login_server", name=op.f("pk_task_credentials")),
    )


def downgrade() -> None:
    op.drop_table("task_credentials")
    with op.batch_alter_table("task_timers", schema=None) as batch_op:
        batch_op.drop_index("ix_task_timers_next_due")
    op.drop_table("task_timers")
    op.drop_table("tasks")
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_task_runs_task_name")
        batch_op.drop_column("trigger_detail")
        batch_op.drop_column("task_name")
