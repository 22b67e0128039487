"""Service tests: the services in-process, on a real migrated database.

SQLite, or PostgreSQL when DOCKYARD_TEST_POSTGRES names a server (the PostgreSQL pass). The
schema is migrated once per session into a template; each test gets a copy of it (a file
copy on SQLite, `CREATE DATABASE .. TEMPLATE` on PostgreSQL), so tests neither share rows
nor pay for migrations.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL


def _postgres_url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def _postgres(statement: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to copy: a file path on SQLite, a database name on PostgreSQL."""
    if not POSTGRES_ADMIN_URL:
        path = tmp_path_factory.mktemp("service-db") / "template.db"
        upgrade(f"sqlite:///{path}")
        yield str(path)
        return
    name = f"dockyard_svc_template_{uuid.uuid4().hex[:12]}"
    _postgres(f'CREATE DATABASE "{name}"')
    try:
        upgrade(_postgres_url(name))
        yield name
    finally:
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(migrated_template: str, tmp_path: Path) -> Iterator[Database]:
    if not POSTGRES_ADMIN_URL:
        path = tmp_path / "dockyard.db"
        shutil.copyfile(migrated_template, path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
        return
    name = f"dockyard_svc_{uuid.uuid4().hex[:12]}"
    _postgres(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    db = Database(_postgres_url(name))
    try:
        yield db
    finally:
        db.dispose()
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(database: Database) -> Database:
    """The test's own migrated database (the name the event and webhook tests use)."""
    return database


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty (unmigrated) databases, one URL per call, dropped after the test."""
    created: list[str] = []

    def new() -> str:
        if not POSTGRES_ADMIN_URL:
            return f"sqlite:///{tmp_path}/{uuid.uuid4().hex[:8]}.db"
        name = f"dockyard_svc_{uuid.uuid4().hex[:12]}"
        _postgres(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _postgres_url(name)

    yield new
    for name in created:
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
