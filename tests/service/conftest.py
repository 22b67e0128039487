"""Service tests: Dockyard's services in-process on a real, migrated database.

Every test runs on SQLite, and on PostgreSQL too when DOCKYARD_TEST_POSTGRES names a server
(fresh databases, dropped at the end).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, text

from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade
from dockyard.storage.db.schema import event_cursors, events, webhook_deliveries, webhooks
from tests.conftest import POSTGRES_ADMIN_URL

BACKENDS = ["sqlite", "postgresql"] if POSTGRES_ADMIN_URL else ["sqlite"]

# Emptied before each test that shares the session's migrated database.
_TABLES = (webhook_deliveries, webhooks, event_cursors, events)


class _Databases:
    """Creates empty databases of one backend and drops the PostgreSQL ones at the end."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self._folder = folder
        self._created: list[str] = []

    def new(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self._folder}/{uuid.uuid4().hex[:8]}.db"
        import psycopg

        name = f"dockyard_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def drop(self) -> None:
        if not self._created:
            return
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per backend for the session (migrating costs a second or two)."""
    databases = _Databases(request.param, tmp_path_factory.mktemp("service-db"))
    url = databases.new()
    upgrade(url)
    yield url
    databases.drop()


@pytest.fixture
def db(migrated_url: str) -> Iterator[Database]:
    """The session's database with the outbox, cursors and webhooks emptied."""
    database = Database(migrated_url)
    with database.write() as conn:
        if database.is_sqlite:  # a deleted row's key is used again: `seq` starts at 1
            for table in _TABLES:
                conn.execute(delete(table))
        else:  # sequences go on counting unless restarted
            names = ", ".join(table.name for table in _TABLES)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    yield database
    database.dispose()


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty (unmigrated) databases of the test's backend, one URL per call."""
    databases = _Databases(request.param, tmp_path)
    yield databases.new
    databases.drop()
