"""Registry-wide write-once tags, in process on a registry of their own (see conftest.py); the
other lock tests, and those across restarts and workers, are in tests/integration/test_locks.py."""

from __future__ import annotations

from tests.integration.helpers import assert_status, push_image
from tests.integration.test_locks import check_immutable, tag_digest
from tests.protocol.conftest import RegistryFactory, sync_client


def test_registry_with_write_once_tags(registry_factory: RegistryFactory) -> None:
    client = sync_client(registry_factory())
    repo = "immutable/app"
    image = push_image(client, repo, "v1")
    resp = client.patch("/api/v1/registry", json={"immutable_tags": True})
    assert_status(resp, 200)
    check_immutable(client, repo, image)
    fresh = "immutable/fresh"
    first = push_image(client, fresh, "v1")
    check_immutable(client, fresh, first)

    assert_status(client.patch("/api/v1/registry", json={"immutable_tags": False}), 200)
    moved = push_image(client, repo, "v1")
    assert tag_digest(client, repo, "v1") == moved.digest
    client.close()
