"""The management API without authentication, in process on a registry of its own (see
conftest.py); the rest of /api/v1 is in tests/integration/test_management_api.py."""

from __future__ import annotations

import time

from tests.integration.helpers import assert_status
from tests.integration.test_management_api import ok, unique
from tests.protocol.conftest import RegistryFactory, sync_client


def test_without_auth_everyone_manages(registry_factory: RegistryFactory) -> None:
    registry = registry_factory()
    name = unique("free")
    anon = sync_client(registry)
    assert_status(anon.post("/api/v1/users", json={"name": name}), 201)
    assert name in {u["name"] for u in ok(anon.get("/api/v1/users"))}
    ok(anon.post("/api/v1/keys/rotate"))
    anon.close()
    deadline = time.monotonic() + 5
    audit = registry.services.settings.data_dir / "audit.log"
    while not audit.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert '"event":"user.create","actor":"anonymous"' in audit.read_text()
