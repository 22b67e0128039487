"""The hard storage limit's refusals and the tiers' limits on the management API, in process on
registries of their own (see conftest.py). The usage numbers after GC, the CLI and the
concurrent pushes against the limit stay in tests/integration/test_usage_limits.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import assert_error, random_bytes, sha256, upload_blob
from tests.integration.test_usage_limits import LIMIT, usage
from tests.protocol.conftest import InProcessRegistry, RegistryFactory, sync_client


def assert_limit_refusal(resp: httpx.Response) -> None:
    assert_error(resp, 403, "DENIED")
    message = resp.json()["errors"][0]["message"]
    assert "storage limit" in message
    assert "9.8 KiB" in message  # the limit, named


def webhook(client: httpx.Client, name: str) -> httpx.Response:
    return client.post(
        "/api/v1/webhooks",
        json={"name": name, "uri": "http://127.0.0.1:9/hook", "actions": ["push"]},
    )


def upload_files(registry: InProcessRegistry) -> list[Path]:
    storage = registry.services.settings.storage.data_dir / "storage"
    return [p for p in storage.rglob("*") if p.is_file() and "uploads" in p.parts]


@pytest.fixture
def small(registry_factory: RegistryFactory) -> InProcessRegistry:
    return registry_factory(storage={"limit_bytes": LIMIT})


@pytest.fixture
def small_client(small: InProcessRegistry) -> Iterator[httpx.Client]:
    http = sync_client(small)
    yield http
    http.close()


def test_a_push_over_the_limit_is_denied_and_leaves_nothing(
    small: InProcessRegistry, small_client: httpx.Client
) -> None:
    client = small_client
    first = random_bytes(6000)
    upload_blob(client, "limits/a", first)
    before = usage(client)["storage"]["used_bytes"]
    assert before == 6000

    second = random_bytes(6000)
    # Monolithic: refused before a byte is stored.
    resp = client.post(
        f"/v2/limits/a/blobs/uploads/?digest={sha256(second)}",
        content=second,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_limit_refusal(resp)
    assert resp.json()["errors"][0]["detail"] == {
        "limitBytes": LIMIT,
        "usedBytes": 6000,
        "neededBytes": 6000,
    }
    assert client.head(f"/v2/limits/a/blobs/{sha256(second)}").status_code == 404

    # A chunk with a length: refused before it is written, and the session is gone.
    started = client.post("/v2/limits/a/blobs/uploads/")
    assert started.status_code == 202
    session = started.headers["location"]
    resp = client.patch(
        session,
        content=second,
        headers={"Content-Type": "application/octet-stream", "Content-Range": "0-5999"},
    )
    assert_limit_refusal(resp)
    assert client.get(session).status_code == 404

    # Streamed without a length: refused when it completes; the bytes are removed.
    started = client.post("/v2/limits/a/blobs/uploads/")
    session = started.headers["location"]

    def stream() -> Iterator[bytes]:
        yield second[:3000]
        yield second[3000:]

    patched = client.patch(
        session, content=stream(), headers={"Content-Type": "application/octet-stream"}
    )
    assert patched.status_code == 202, patched.text
    location = patched.headers["location"]
    sep = "&" if "?" in location else "?"
    resp = client.put(f"{location}{sep}digest={sha256(second)}")
    assert_limit_refusal(resp)
    assert client.get(location).status_code == 404
    assert upload_files(small) == []
    assert usage(client)["storage"]["used_bytes"] == before

    # What fits still goes in.
    upload_blob(client, "limits/a", random_bytes(LIMIT - 6000))
    assert usage(client)["storage"]["used_bytes"] == LIMIT


# --- tiers ----------------------------------------------------------------------------------


@pytest.fixture
def tier_client(registry_factory: RegistryFactory) -> Iterator[httpx.Client]:
    http = sync_client(registry_factory(webhooks={"allow_private_targets": True}))
    yield http
    http.close()


def test_registry_starts_standard_with_acr_limits(tier_client: httpx.Client) -> None:
    answer = tier_client.get("/api/v1/registry").json()
    assert answer["sku"] == "Standard"
    assert answer["limits"]["webhooks"] == 10
    assert answer["limits"]["included_storage_bytes"] == 100 * 1024**3
    assert answer["limits"]["rates_per_minute"]["reads"] == 10_000
    premium = tier_client.patch("/api/v1/registry", json={"sku": "Premium"}).json()
    assert premium["limits"]["webhooks"] == 500
    assert premium["limits"]["rates_per_minute"]["writes"] == 4_000
    assert premium["limits"]["geo_replication"] is True


def test_webhook_count_follows_the_tier(tier_client: httpx.Client) -> None:
    client = tier_client
    assert client.patch("/api/v1/registry", json={"sku": "Basic"}).status_code == 200
    assert webhook(client, "hookone").status_code == 201
    assert webhook(client, "hooktwo").status_code == 201
    refused = webhook(client, "hookthree")
    assert_error(refused, 403, "DENIED")
    assert "Basic tier allows 2 webhooks" in refused.json()["errors"][0]["message"]

    assert client.patch("/api/v1/registry", json={"sku": "Standard"}).status_code == 200
    assert webhook(client, "hookthree").status_code == 201
    downgrade = client.patch("/api/v1/registry", json={"sku": "Basic"})
    assert_error(downgrade, 403, "DENIED")
    assert "3 webhooks exist and Basic allows 2" in downgrade.json()["errors"][0]["message"]
    assert client.get("/api/v1/registry").json()["sku"] == "Standard"


def test_basic_has_no_anonymous_pull_and_premium_alone_has_retention(
    tier_client: httpx.Client,
) -> None:
    client = tier_client
    on = client.put("/api/v1/settings/anonymous-pull", json={"enabled": True})
    assert on.status_code == 200
    refused = client.patch("/api/v1/registry", json={"sku": "Basic"})
    assert_error(refused, 403, "DENIED")
    assert "anonymous pull" in refused.json()["errors"][0]["message"]
    assert client.put("/api/v1/settings/anonymous-pull", json={"enabled": False}).status_code == 200
    assert client.patch("/api/v1/registry", json={"sku": "Basic"}).status_code == 200
    refused = client.put("/api/v1/settings/anonymous-pull", json={"enabled": True})
    assert_error(refused, 403, "DENIED")

    retention = {"retention_policy": {"enabled": True, "days": 3}}
    assert_error(client.patch("/api/v1/registry", json=retention), 403, "DENIED")
    both = client.patch("/api/v1/registry", json={"sku": "Premium", **retention})
    assert both.status_code == 200, both.text
    assert both.json()["retention_policy"] == {"enabled": True, "days": 3}
    assert_error(client.patch("/api/v1/registry", json={"sku": "Standard"}), 403, "DENIED")
    bad_days = client.patch("/api/v1/registry", json={"retention_policy": {"days": 400}})
    assert_error(bad_days, 400)
