"""Usage (exact numbers after pushes, deletes and GC), the hard storage limit, and the tier's
limits: `/api/v1/usage`, `/api/v1/registry`, `dockyard show-usage`, `dockyard registry`. What
needs no process of its own (the limit's refusals, the tiers' rules on the management API) is
in tests/protocol/test_usage_limits.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ServerProcess
from tests.integration.helpers import (
    Pushed,
    canonical,
    descriptor,
    digest_of,
    push,
    random_bytes,
    upload_blob,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

ServerFactory = Callable[..., ServerProcess]


def image_of(client: httpx.Client, repo: str, layers: list[bytes]) -> tuple[Pushed, bytes]:
    """Upload a config and `layers`, return the (unpushed) manifest and its config."""
    config = canonical({"architecture": "amd64", "os": "linux", "nonce": random_bytes(8).hex()})
    upload_blob(client, repo, config)
    for layer in layers:
        upload_blob(client, repo, layer)
    body = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        }
    )
    return Pushed(body, OCI_MANIFEST), config


def usage(client: httpx.Client) -> dict[str, Any]:
    resp = client.get("/api/v1/usage")
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def repository_row(answer: dict[str, Any], name: str) -> dict[str, Any]:
    rows = [r for r in answer["repositories"] if r["name"] == name]
    assert len(rows) == 1, answer["repositories"]
    return rows[0]


@pytest.fixture
def gc_server(server_factory: ServerFactory) -> ServerProcess:
    # GC only when asked (`dockyard gc`), with no grace period, so the numbers are exact.
    return server_factory(env={"DOCKYARD_GC_ENABLED": "false", "DOCKYARD_GC_GRACE_SECONDS": "0"})


@pytest.fixture
def gc_client(gc_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gc_server.url, timeout=60) as http:
        yield http


def test_usage_counts_blobs_once_and_repositories_each_after_push_delete_and_gc(
    gc_server: ServerProcess, gc_client: httpx.Client
) -> None:
    client = gc_client
    shared, only_one, only_two = random_bytes(3000), random_bytes(1000), random_bytes(500)
    one, config_one = image_of(client, "usage/one", [shared, only_one])
    push(client, "usage/one", one, "v1")
    two, config_two = image_of(client, "usage/two", [shared, only_two])
    push(client, "usage/two", two, "v1")
    assert (
        client.put(
            "/v2/usage/two/manifests/also", content=two.body, headers={"Content-Type": OCI_MANIFEST}
        ).status_code
        == 201
    )

    blob_bytes = len(shared) + len(only_one) + len(only_two) + len(config_one) + len(config_two)
    size_one = len(shared) + len(only_one) + len(config_one) + one.size
    size_two = len(shared) + len(only_two) + len(config_two) + two.size
    answer = usage(client)
    storage = answer["storage"]
    assert storage["blob_bytes"] == blob_bytes
    assert storage["manifest_bytes"] == one.size + two.size
    assert storage["used_bytes"] == blob_bytes + one.size + two.size
    assert storage["repositories_bytes"] == size_one + size_two  # the shared layer twice
    assert storage["repositories_bytes"] - storage["used_bytes"] == len(shared)
    assert (answer["repository_count"], answer["manifest_count"], answer["tag_count"]) == (2, 2, 3)
    assert answer["blob_count"] == 5
    assert repository_row(answer, "usage/one") == {
        "name": "usage/one",
        "size_bytes": size_one,
        "manifest_count": 1,
        "tag_count": 1,
        "blob_count": 3,
    }
    assert repository_row(answer, "usage/two")["size_bytes"] == size_two
    assert repository_row(answer, "usage/two")["tag_count"] == 2
    size_item = next(v for v in answer["value"] if v["name"] == "Size")
    assert size_item == {
        "name": "Size",
        "current_value": storage["used_bytes"],
        "limit": 100 * 1024**3,
        "unit": "Bytes",
    }
    assert storage["overage_bytes"] == 0
    assert storage["limit_bytes"] == 5 * 1024**4

    # Deleting repository two's manifest: the repository is empty at once; its blobs stay
    # stored (and counted) until garbage collection frees them.
    assert client.delete(f"/v2/usage/two/manifests/{two.digest}").status_code == 202
    answer = usage(client)
    assert repository_row(answer, "usage/two")["size_bytes"] == 0
    assert repository_row(answer, "usage/two")["tag_count"] == 0
    assert answer["storage"]["blob_bytes"] == blob_bytes
    assert answer["storage"]["manifest_bytes"] == one.size
    assert (answer["manifest_count"], answer["tag_count"]) == (1, 1)

    result = gc_server.dockyard("gc")
    assert result.returncode == 0, result.stderr
    answer = usage(client)
    remaining = len(shared) + len(only_one) + len(config_one)
    assert answer["storage"]["blob_bytes"] == remaining
    assert answer["storage"]["used_bytes"] == remaining + one.size
    assert answer["storage"]["repositories_bytes"] == size_one
    assert answer["blob_count"] == 3

    # The counter the storage limit reads agrees with what is stored; `check` would say not.
    checked = gc_server.dockyard("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    engine = create_engine(gc_server.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE storage_usage SET bytes = bytes + 1 WHERE id = 1"))
    finally:
        engine.dispose()
    checked = gc_server.dockyard("check")
    assert checked.returncode == 1
    assert "usage-counter" in checked.stdout


def test_show_usage_cli_matches_the_api(gc_server: ServerProcess, gc_client: httpx.Client) -> None:
    image, _ = image_of(gc_client, "usage/cli", [random_bytes(2048)])
    push(gc_client, "usage/cli", image, "latest")
    listed = gc_server.dockyard("show-usage", "-r", gc_server.url, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == usage(gc_client)
    table = gc_server.dockyard("show-usage", "-r", gc_server.url)
    assert table.returncode == 0, table.stderr
    assert "usage/cli" in table.stdout
    assert "Standard" in table.stdout
    only = gc_server.dockyard(
        "show-usage", "-r", gc_server.url, "--repository", "usage/cli", "-o", "json"
    )
    assert [r["name"] for r in json.loads(only.stdout)["repositories"]] == ["usage/cli"]


# --- the hard storage limit -----------------------------------------------------------------


LIMIT = 10_000


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Shared by the tests below: one of them only reads the limit, so the other's exact
    numbers hold in either order."""
    server = ServerProcess(
        tmp_path_factory.mktemp("usage-limit"), env={"DOCKYARD_STORAGE_LIMIT_BYTES": str(LIMIT)}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def small_client(small: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small.url, timeout=60) as http:
        yield http


def test_concurrent_pushes_never_exceed_the_limit(
    small: ServerProcess, small_client: httpx.Client
) -> None:
    blobs = [random_bytes(4000) for _ in range(6)]  # room for two of them
    statuses: list[int] = []
    lock = threading.Lock()

    def push_one(data: bytes) -> None:
        with httpx.Client(base_url=small.url, timeout=60) as http:
            resp = http.post(
                f"/v2/limits/race/blobs/uploads/?digest={digest_of(data)}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=push_one, args=(b,)) for b in blobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 403, 403, 403, 403]
    answer = usage(small_client)
    assert answer["storage"]["used_bytes"] == 8000
    assert answer["blob_count"] == 2


def test_the_limit_shows_in_registry_show(small: ServerProcess) -> None:
    shown = small.dockyard("registry", "show", "-r", small.url, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["limits"]["storage_limit_bytes"] == LIMIT


# --- tiers ----------------------------------------------------------------------------------


@pytest.fixture
def tier_server(server_factory: ServerFactory) -> ServerProcess:
    return server_factory(env={"DOCKYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"})


def test_registry_update_cli_reports_the_reasons(tier_server: ServerProcess) -> None:
    url = tier_server.url
    shown = tier_server.dockyard("registry", "show", "-r", url)
    assert shown.returncode == 0, shown.stderr
    assert "Standard" in shown.stdout
    changed = tier_server.dockyard(
        "registry", "update", "-r", url, "--sku", "Premium", "-o", "json"
    )
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["sku"] == "Premium"
    on = tier_server.dockyard(
        "registry", "update", "-r", url, "--retention", "--retention-days", "0"
    )
    assert on.returncode == 0, on.stderr
    refused = tier_server.dockyard("registry", "update", "-r", url, "--sku", "Basic")
    assert refused.returncode == 1
    said = " ".join(refused.stderr.split())
    assert "retention policy is on and Basic does not offer it" in said
    assert "Owner or Contributor" not in said
