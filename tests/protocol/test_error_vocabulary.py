"""One error vocabulary on /api/v1: a conflict answers CONFLICT (409), a missing resource of the
management API NOT_FOUND (404), and the OpenAPI document says so. In process (see
conftest.py), on a registry of its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.cleanup_helpers import soft_delete_on
from tests.integration.helpers import assert_error, assert_status, image_manifest, push
from tests.protocol.conftest import RegistryFactory, sync_client


@pytest.fixture
def client(registry_factory: RegistryFactory) -> Iterator[httpx.Client]:
    """A registry of its own: the test turns soft delete on."""
    http = sync_client(registry_factory(gc={"enabled": False}))
    yield http
    http.close()


def test_management_conflicts_and_missing_resources_have_their_own_codes(
    client: httpx.Client,
) -> None:
    repo = "vocabulary/app"
    soft_delete_on(client)
    first = push(client, repo, image_manifest(client, repo), "latest")
    assert_status(client.delete(f"/v2/{repo}/manifests/{first.digest}"), 202)
    push(client, repo, image_manifest(client, repo), "latest")

    # Restoring `latest` would move a tag that points at another image now: the request is
    # valid, the repository's state forbids it.
    moved = client.post(
        f"/api/v1/repositories/{repo}/restore", json={"digest": first.digest, "tag": "latest"}
    )
    errors = assert_error(moved, 409, "CONFLICT")
    assert errors[0]["detail"]["tag"] == "latest"

    # A network rule is no repository: its absence is NOT_FOUND, not NAME_UNKNOWN.
    missing = client.delete("/api/v1/network-rules", params={"ip_address_or_range": "10.9.9.9"})
    assert_error(missing, 404, "NOT_FOUND")

    # Repositories keep the OCI code, on /v2 and on /api/v1 alike.
    assert_error(client.get("/v2/vocabulary/none/tags/list"), 404, "NAME_UNKNOWN")
    gone = client.get("/api/v1/repositories/vocabulary/none/deleted-manifests")
    assert_error(gone, 404, "NAME_UNKNOWN")

    document = client.get("/api/v1/openapi.json").json()
    codes = document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
    assert {"CONFLICT", "NOT_FOUND", "NAME_UNKNOWN", "UNSUPPORTED", "DENIED"} <= set(codes)
    restore = document["paths"]["/repositories/{name}/restore"]["post"]["responses"]
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for status in ("400", "404", "409"):
        assert restore[status]["content"]["application/json"]["schema"] == envelope, status
