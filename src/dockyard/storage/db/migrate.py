"""Bring a database to the newest schema with Alembic (run once, before serving)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from dockyard.storage.db.database import null_pool_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(url: str) -> None:
    engine = null_pool_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several servers may start at once; one migrates, the others wait.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def revision(url: str, message: str) -> None:
    """Autogenerate a migration from the schema (a developer tool)."""
    engine = null_pool_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.revision(config, message=message, autogenerate=True)
    finally:
        engine.dispose()
