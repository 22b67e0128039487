"""The protocol tier: the whole HTTP application, in the test's own process, through
httpx.ASGITransport. No server process, no sockets: each request costs what the application
does, so the wire protocol can be checked case by case in milliseconds. Crash, restart,
concurrency and real clients stay in tests/integration and tests/e2e.

The database is SQLite, or a fresh PostgreSQL database when DOCKYARD_TEST_POSTGRES is set.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.app import create_app
from dockyard.compose import Services, build_services
from dockyard.config import Settings
from dockyard.storage.db.migrate import upgrade
from tests.conftest import fresh_database_url

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


def in_process_registry(data_dir: Path, auth: bool) -> InProcessRegistry:
    settings = Settings.model_validate(
        {
            "storage": {"data_dir": data_dir},
            "database": {"url": fresh_database_url(data_dir)},
            "auth": {"enabled": auth},
            "server": {"public_url": BASE_URL},
            "tasks": {"enabled": False},
        }
    )
    upgrade(settings.database_url)
    services = build_services(settings)
    password = services.auth.access.first_start.create_owner() if auth else None
    return InProcessRegistry(services, create_app(services), password)


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
