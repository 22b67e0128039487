"""The protocol tier: the whole HTTP application, in the test's own process, through
httpx.ASGITransport. No server process, no sockets: each request costs what the application
does, so the wire protocol can be checked case by case in milliseconds. Crash, restart,
concurrency and real clients stay in tests/integration and tests/e2e.

The database is SQLite, or a fresh PostgreSQL database when DOCKYARD_TEST_POSTGRES is set.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.app import create_app
from dockyard.compose import Services, build_services
from dockyard.config import Settings, load_settings
from dockyard.storage.db.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL, fresh_database_url

with warnings.catch_warnings():
    # Starlette asks for httpx2 here; its TestClient still works on httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BASE_URL = "http://registry.test"


@dataclass
class InProcessRegistry:
    services: Services
    app: Any
    owner_password: str | None

    def owner_basic(self) -> dict[str, str]:
        assert self.owner_password is not None, "this registry has no owner"
        pair = base64.b64encode(f"owner:{self.owner_password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}


# A migrated, never used database, copied for each registry after the first: the migrations
# cost seconds per database under load, the copy a fraction of that. SQLite copies the file
# (sqlite3 backup), PostgreSQL creates the database from the template (named as every test
# database, so scripts/test.sh drops it after the pass).
_migrated_sqlite: list[Path] = []
_migrated_postgres: list[str] = []


def migrated_database(data_dir: Path) -> str:
    if POSTGRES_ADMIN_URL:
        return _migrated_postgres_database(data_dir)
    url = fresh_database_url(data_dir)
    target = Path(url.removeprefix("sqlite:///"))
    if not _migrated_sqlite:
        template = data_dir / "migrated-template.db"
        upgrade(f"sqlite:///{template}")
        _migrated_sqlite.append(template)
    source, copy = sqlite3.connect(_migrated_sqlite[0]), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return url


def _migrated_postgres_database(data_dir: Path) -> str:
    import psycopg

    if not _migrated_postgres:
        template = fresh_database_url(data_dir)
        upgrade(template)  # its engine has no pool: no session is left on the template
        _migrated_postgres.append(template.rsplit("/", 1)[1])
    name = f"dockyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_postgres[0]}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def in_process_registry(
    data_dir: Path,
    auth: bool,
    *,
    from_environment: bool = False,
    config_file: Path | None = None,
    **sections: dict[str, Any],
) -> InProcessRegistry:
    """A registry on a fresh database. `sections` add settings (e.g. `gc={"enabled": False}`);
    with `from_environment` the DOCKYARD_* variables and `config_file` are read as `serve`
    reads them, under these settings."""
    values: dict[str, dict[str, Any]] = {
        "storage": {"data_dir": data_dir},
        "database": {"url": migrated_database(data_dir)},
        "auth": {"enabled": auth},
        "server": {"public_url": BASE_URL},
        "tasks": {"enabled": False},
    }
    for section, entries in sections.items():
        values[section] = {**values.get(section, {}), **entries}
    if from_environment:
        settings = load_settings(config_file, **values)
    else:
        settings = Settings.model_validate(values)
    services = build_services(settings)
    password = services.auth.access.first_start.create_owner() if auth else None
    return InProcessRegistry(services, create_app(services), password)


def sync_client(registry: InProcessRegistry, headers: dict[str, str] | None = None) -> TestClient:
    """A blocking httpx.Client on the application, for tests written as tests/integration's
    (its helpers take an httpx.Client). Redirects are not followed, as httpx's default; an
    exception the application lets out fails the test, where a server would log a traceback.
    Never use it as a context manager: that runs the lifespan, which starts the jobs and
    closes the services at its end."""
    return TestClient(
        registry.app,
        base_url=BASE_URL,
        follow_redirects=False,
        headers=headers,
        client=("127.0.0.1", 40002),
    )


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRegistry]:
    """A registry without credentials (as tests/integration's shared `server`)."""
    registry = in_process_registry(tmp_path_factory.mktemp("protocol-open"), auth=False)
    yield registry
    registry.services.close()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRegistry]:
    """A registry that requires credentials, with its first-start owner."""
    registry = in_process_registry(tmp_path_factory.mktemp("protocol-auth"), auth=True)
    yield registry
    registry.services.close()


@pytest.fixture
async def http(open_registry: InProcessRegistry) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=open_registry.app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
async def auth_http(auth_registry: InProcessRegistry) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=auth_registry.app, client=("127.0.0.1", 40001))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def client(open_registry: InProcessRegistry) -> Iterator[httpx.Client]:
    """The blocking counterpart of `http` (replaces tests/conftest.py's `client` here)."""
    http = sync_client(open_registry)
    yield http
    http.close()


RegistryFactory = Callable[..., InProcessRegistry]


@pytest.fixture
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryFactory]:
    """Registries of a test's own, with settings of its own (`in_process_registry`'s
    arguments, auth off unless `auth=True`); each costs a database, not a server start."""
    made: list[InProcessRegistry] = []

    def make(auth: bool = False, **options: Any) -> InProcessRegistry:
        registry = in_process_registry(tmp_path_factory.mktemp("protocol-own"), auth, **options)
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.services.close()
