"""Soft delete's policy days, in process on a registry of its own (see conftest.py); the bin
through garbage collection, the cleanup job, the CLI's restores and `dockyard check` are in
tests/integration/test_soft_delete.py."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.integration.cleanup_helpers import DAY, soft_delete_on
from tests.integration.helpers import assert_status, image_manifest, push
from tests.integration.test_soft_delete import deleted_manifests
from tests.protocol.conftest import RegistryFactory, sync_client


def test_the_policy_days_count_from_the_deletion(registry_factory: RegistryFactory) -> None:
    """As in ACR, a change of the days applies to what is already in the bin."""
    client = sync_client(registry_factory(gc={"enabled": False}))
    repo = "soft/days"
    soft_delete_on(client, days=1)
    image = push(client, repo, image_manifest(client, repo), "v1")
    assert_status(client.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)
    [before] = deleted_manifests(client, repo)
    soft_delete_on(client, days=30)
    [after] = deleted_manifests(client, repo)
    assert after["deleted_at"] == before["deleted_at"]
    span = datetime.fromisoformat(after["expires_at"]) - datetime.fromisoformat(after["deleted_at"])
    assert span.total_seconds() == pytest.approx(30 * DAY, abs=1)
    client.close()
