"""Service tests: the services in-process, on a real database migrated to the head.

Every test module gets its own database, copied from one migrated per session (a file copy on
SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL): a migration per module would cost more
than the tests. With DOCKYARD_TEST_POSTGRES set, each module runs on SQLite and on PostgreSQL.

Passwords are hashed with argon2id at its lowest cost here: the services are under test, not
the cost of a hash (64 MiB and three passes each would be most of this tier's time).
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from dockyard.access import passwords
from dockyard.access.audit import AuditLog
from dockyard.access.service import AccessService
from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL

BACKENDS = ["sqlite", "postgresql"] if POSTGRES_ADMIN_URL else ["sqlite"]
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


class _Templates:
    """One migrated database per backend, made when first needed."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self.made: dict[str, str] = {}

    def template(self, backend: str) -> str:
        if backend not in self.made:
            if backend == "sqlite":
                path = self._folder / "template.db"
                upgrade(f"sqlite:///{path}")
                self.made[backend] = str(path)
            else:
                name = f"dockyard_service_template_{uuid.uuid4().hex[:12]}"
                _postgres(f'CREATE DATABASE "{name}"')
                upgrade(_postgres_url(name))
                self.made[backend] = name
        return self.made[backend]


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_HASHER", cheap)
        passwords._dummy_hash.cache_clear()
        yield
    passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    templates = _Templates(tmp_path_factory.mktemp("service-template"))
    yield templates
    if "postgresql" in templates.made:
        _postgres(f'DROP DATABASE IF EXISTS "{templates.made["postgresql"]}"')


@pytest.fixture(scope="module", params=BACKENDS)
def database(
    request: pytest.FixtureRequest,
    _templates: _Templates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Database]:
    """A migrated, empty database of its own for the test module."""
    backend: str = request.param
    template = _templates.template(backend)
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("service-db") / "dockyard.db"
        shutil.copyfile(template, path)
        db = Database(f"sqlite:///{path}")
        try:
            yield db
        finally:
            db.dispose()
        return
    name = f"dockyard_service_{uuid.uuid4().hex[:12]}"
    _postgres(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = Database(_postgres_url(name))
    try:
        yield db
    finally:
        db.dispose()
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> AuditLog:
    return AuditLog(tmp_path_factory.mktemp("service-audit") / "audit.log")


@pytest.fixture(scope="module")
def access(database: Database, audit: AuditLog) -> AccessService:
    """The access wing's parts over the module's database."""
    return AccessService(database, audit, ADMIN_USERNAME)
