"""Service tests: the services in-process, on a real migrated database.

SQLite, or PostgreSQL when DOCKYARD_TEST_POSTGRES names a server (the PostgreSQL pass). The
schema is migrated once per session into a template; each test gets a copy of it (a file
copy on SQLite, `CREATE DATABASE .. TEMPLATE` on PostgreSQL), so tests neither share rows
nor pay for migrations. The access tests share one copy per module (`module_database`) and
name what they create with `unique`.

Passwords are hashed with argon2id at its lowest cost here: the services are under test, not
the cost of a hash (64 MiB and three passes each would be most of this tier's time).
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from dockyard.access import passwords
from dockyard.access.audit import AuditLog
from dockyard.access.service import AccessService
from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL

ADMIN_USERNAME = "admin"
ACTOR = "test"

_names = itertools.count()


def unique(prefix: str) -> str:
    """A name no other test of the module uses."""
    return f"{prefix}{next(_names)}"


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


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_HASHER", cheap)
        passwords._dummy_hash.cache_clear()
        yield
    passwords._dummy_hash.cache_clear()


def _copy_of(template: str, folder: Path) -> Iterator[Database]:
    """A database of its own, copied from the migrated template, dropped afterwards."""
    if not POSTGRES_ADMIN_URL:
        path = folder / "dockyard.db"
        shutil.copyfile(template, path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
        return
    name = f"dockyard_svc_{uuid.uuid4().hex[:12]}"
    _postgres(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = Database(_postgres_url(name))
    try:
        yield db
    finally:
        db.dispose()
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(migrated_template: str, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of the test's own."""
    yield from _copy_of(migrated_template, tmp_path)


@pytest.fixture(scope="module")
def module_database(
    migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated database the tests of one module share."""
    yield from _copy_of(migrated_template, tmp_path_factory.mktemp("service-db"))


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> AuditLog:
    return AuditLog(tmp_path_factory.mktemp("service-audit") / "audit.log")


@pytest.fixture(scope="module")
def access(module_database: Database, audit: AuditLog) -> AccessService:
    """The access wing's parts over the module's database."""
    return AccessService(module_database, audit, ADMIN_USERNAME)


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
