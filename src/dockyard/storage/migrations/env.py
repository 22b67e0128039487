"""Alembic environment: runs with the connection handed over by dockyard.storage.db.migrate."""

from __future__ import annotations

from alembic import context

from dockyard.storage.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `dockyard migrate` or dockyard.storage.db.migrate")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
