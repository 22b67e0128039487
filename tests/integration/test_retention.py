"""The retention policy for untagged manifests, applied by the background cleanup job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.cleanup_helpers import (
    DAY,
    assert_consistent,
    manifest_status,
    set_policies,
    soft_delete_on,
    sql,
    tags_of,
    wait_until,
)
from tests.integration.helpers import (
    Pushed,
    artifact_manifest,
    assert_status,
    image_manifest,
    index_manifest,
    push,
)
from tests.integration.test_events import outbox

INTERVAL = 0.2


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(
        env={
            "DOCKYARD_GC_ENABLED": "false",
            "DOCKYARD_CLEANUP_INTERVAL_SECONDS": str(INTERVAL),
            "DOCKYARD_CLI_CONFIG": str(tmp_path / "cli.json"),
        }
    )


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def retention(client: httpx.Client, enabled: bool, days: int | None = None) -> None:
    policy: dict[str, Any] = {"enabled": enabled}
    if days is not None:
        policy["days"] = days
    answer = set_policies(client, sku="Premium", retention_policy=policy)
    assert answer["retention_policy"]["enabled"] is enabled


def cleanup_runs(server: ServerProcess, rounds: int = 3) -> None:
    """Let the cleanup job run a few times (its lease is renewed at every run)."""

    def expiry() -> float:
        rows = sql(server, "SELECT expires_at FROM leases WHERE name = 'cleanup'")
        return float(rows[0][0]) if rows else 0.0

    for _ in range(rounds):
        seen = expiry()
        wait_until(lambda seen=seen: expiry() > seen, 10, "the cleanup job to run")


def untag(client: httpx.Client, repo: str, tag: str) -> None:
    assert_status(client.delete(f"/v2/{repo}/manifests/{tag}"), 202)


def lock_manifest(client: httpx.Client, repo: str, digest: str) -> None:
    resp = client.patch(f"/acr/v1/{repo}/_manifests/{digest}", json={"deleteEnabled": False})
    assert_status(resp, 200)


def age_everything(server: ServerProcess, seconds: float) -> None:
    """As if `seconds` went by: pushes, untaggings and the policy's start move into the past."""
    sql(
        server,
        "UPDATE manifests SET created_at = created_at - :s, untagged_at = untagged_at - :s",
        s=seconds,
    )
    sql(
        server,
        "UPDATE registry_settings SET value = CAST(CAST(value AS FLOAT) - :s AS VARCHAR(64)) "
        "WHERE name = 'retention_enabled_at'",
        s=seconds,
    )


def present(client: httpx.Client, repo: str, *manifests: Pushed) -> list[bool]:
    return [manifest_status(client, repo, m.digest) == 200 for m in manifests]


def test_retention_deletes_exactly_the_untagged_manifests_past_the_period(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "keep/app"
    # Untagged before the policy is on: ACR's policy never applies to it.
    before = push(client, repo, image_manifest(client, repo), "pre")
    untag(client, repo, "pre")

    retention(client, True, days=1)
    tagged = push(client, repo, image_manifest(client, repo), "stable")
    moved = push(client, repo, image_manifest(client, repo), "moving")
    mover = push(client, repo, image_manifest(client, repo), "moving")  # `moved` loses its tag
    by_digest = push(client, repo, image_manifest(client, repo))  # never tagged
    locked = push(client, repo, image_manifest(client, repo), "locked")
    lock_manifest(client, repo, locked.digest)
    untag(client, repo, "locked")
    child_a = push(client, repo, image_manifest(client, repo))
    child_b = push(client, repo, image_manifest(client, repo))
    loose_index = push(client, repo, index_manifest([child_a, child_b]))  # untagged index
    kept_child = push(client, repo, image_manifest(client, repo))
    tagged_index = push(client, repo, index_manifest([kept_child]), "multi")
    signature = push(
        client,
        repo,
        artifact_manifest(client, repo, subject=tagged.descriptor()),
    )

    # Within the day nothing goes.
    cleanup_runs(server)
    assert all(
        present(client, repo, before, moved, by_digest, locked, loose_index, child_a, child_b)
    )

    age_everything(server, 2 * DAY)
    young = push(client, repo, image_manifest(client, repo), "young")
    untag(client, repo, "young")  # untagged just now: inside the period
    cleanup_runs(server)

    gone = [moved, by_digest, loose_index, child_a, child_b]
    stay = [before, tagged, mover, locked, kept_child, tagged_index, signature, young]
    assert present(client, repo, *gone) == [False] * len(gone)
    assert present(client, repo, *stay) == [True] * len(stay)
    assert tags_of(client, repo) == ["moving", "multi", "stable"]
    deletes = {e["target"]["digest"] for e in outbox(server) if e["action"] == "delete"}
    assert deletes == {m.digest for m in gone}
    assert_consistent(server)


def test_zero_days_deletes_at_once_and_only_while_the_policy_is_on(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "keep/zero"
    retention(client, True, days=0)
    first = push(client, repo, image_manifest(client, repo), "v1")
    second = push(client, repo, image_manifest(client, repo), "v1")
    wait_until(lambda: manifest_status(client, repo, first.digest) == 404, 10, "retention")
    assert present(client, repo, second) == [True]

    retention(client, False)
    push(client, repo, image_manifest(client, repo), "v1")  # `second` is untagged now
    cleanup_runs(server)
    assert present(client, repo, second) == [True]

    # Switched on again: `second` was untagged before that, so it stays; later ones go.
    retention(client, True, days=0)
    third = push(client, repo, image_manifest(client, repo), "v2")
    untag(client, repo, "v2")
    wait_until(lambda: manifest_status(client, repo, third.digest) == 404, 10, "retention")
    cleanup_runs(server)
    assert present(client, repo, second) == [True]


def test_retention_deletions_go_to_the_recycle_bin_when_soft_delete_is_on(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "keep/soft"
    soft_delete_on(client)
    retention(client, True, days=0)
    first = push(client, repo, image_manifest(client, repo), "v1")
    push(client, repo, image_manifest(client, repo), "v1")
    wait_until(lambda: manifest_status(client, repo, first.digest) == 404, 10, "retention")
    resp = client.get(f"/api/v1/repositories/{repo}/deleted-manifests")
    assert_status(resp, 200)
    assert [m["digest"] for m in resp.json()["manifests"]] == [first.digest]
