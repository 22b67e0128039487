"""Soft delete: deleted manifests and tags go to the recycle bin, keep their blobs through
garbage collection, can be listed and restored exactly (CLI and API), and expire. The policy
days' rule needs no process: tests/protocol/test_soft_delete.py."""

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
    cli,
    cli_fails,
    gc_now,
    manifest_status,
    pull_exact,
    soft_delete_on,
    sql,
    stored_blob_files,
    tags_of,
    wait_until,
)
from tests.integration.helpers import (
    assert_error,
    assert_status,
    image_manifest,
    index_manifest,
    push,
)
from tests.integration.test_events import outbox


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """GC only when a test runs it; the cleanup job every 0.2 s."""
    return server_factory(
        env={
            "DOCKYARD_GC_ENABLED": "false",
            "DOCKYARD_CLEANUP_INTERVAL_SECONDS": "0.2",
            "DOCKYARD_CLI_CONFIG": str(tmp_path / "cli.json"),
        }
    )


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def deleted_manifests(client: httpx.Client, repo: str) -> list[dict[str, Any]]:
    resp = client.get(f"/api/v1/repositories/{repo}/deleted-manifests")
    assert_status(resp, 200)
    found: list[dict[str, Any]] = resp.json()["manifests"]
    return found


def deleted_tags(client: httpx.Client, repo: str) -> list[tuple[str, str]]:
    resp = client.get(f"/api/v1/repositories/{repo}/deleted-tags")
    assert_status(resp, 200)
    return sorted((t["tag"], t["digest"]) for t in resp.json()["tags"])


def test_deleted_manifest_keeps_its_blobs_through_gc_and_restores_exactly(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "soft/app"
    soft_delete_on(client, days=3)
    image = push(client, repo, image_manifest(client, repo, layers=2), "v1")
    push(client, repo, image, "v2")
    keeper = push(client, repo, image_manifest(client, repo), "other")

    assert_status(client.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)
    assert manifest_status(client, repo, image.digest) == 404
    assert tags_of(client, repo) == ["other"]

    [entry] = deleted_manifests(client, repo)
    assert entry["digest"] == image.digest
    assert entry["media_type"] == image.media_type
    assert entry["size"] == image.size
    assert entry["tags"] == ["v1", "v2"]
    assert deleted_tags(client, repo) == [("v1", image.digest), ("v2", image.digest)]
    listed = cli(server, "manifest", "list-deleted", "--name", repo)
    assert [m["digest"] for m in listed["manifests"]] == [image.digest]

    gc_now(server)
    files = stored_blob_files(server)
    assert set(image.blobs) <= files, "GC freed the blobs of a soft-deleted manifest"

    restored = cli(server, "manifest", "restore", "--name", repo, "--digest", image.digest)
    assert restored["manifest_restored"] is True
    assert restored["tags"] == ["v1", "v2"]
    for reference in ("v1", "v2", image.digest):
        pull_exact(client, repo, reference, image)
    pull_exact(client, repo, "other", keeper)
    assert deleted_manifests(client, repo) == []
    assert deleted_tags(client, repo) == []

    # The restore went through the push path: push events for each tag, after the delete.
    actions = [(e["action"], e["target"].get("tag")) for e in outbox(server)]
    deleted_at = actions.index(("delete", None))
    assert ("push", "v1") in actions[deleted_at:]
    assert ("push", "v2") in actions[deleted_at:]
    gc_now(server)
    assert set(image.blobs) <= stored_blob_files(server)
    assert_consistent(server)


def test_expired_entries_let_gc_free_the_blobs(server: ServerProcess, client: httpx.Client) -> None:
    repo = "soft/expiry"
    soft_delete_on(client, days=2)
    image = push(client, repo, image_manifest(client, repo, layers=2), "v1")
    assert_status(client.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)
    [entry] = deleted_manifests(client, repo)

    # The cleanup job runs every 0.2 s; within the period it leaves the entry alone.
    wait_until(lambda: bool(sql(server, "SELECT 1 FROM leases WHERE name = 'cleanup'")), 10)
    assert [m["digest"] for m in deleted_manifests(client, repo)] == [image.digest]
    gc_now(server)
    assert set(image.blobs) <= stored_blob_files(server)

    # Three days go by: the entry is past its two days.
    sql(
        server,
        "UPDATE recycle_bin SET deleted_at = deleted_at - :age, expires_at = expires_at - :age",
        age=3 * DAY,
    )
    wait_until(lambda: deleted_manifests(client, repo) == [], 10, "the entry to expire")
    assert sql(server, "SELECT COUNT(*) FROM recycle_bin_blobs")[0][0] == 0
    gc_now(server)
    assert not set(image.blobs) & stored_blob_files(server), "GC kept blobs of an expired entry"
    error = cli_fails(server, "manifest", "restore", "--name", repo, "--digest", entry["digest"])
    assert "recycle bin" in error
    assert_consistent(server)


def test_a_deleted_tag_is_kept_and_restored_by_name(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "soft/tags"
    soft_delete_on(client)
    image = push(client, repo, image_manifest(client, repo), "a")
    push(client, repo, image, "b")
    assert_status(client.delete(f"/v2/{repo}/manifests/a"), 202)
    assert tags_of(client, repo) == ["b"]
    assert deleted_tags(client, repo) == [("a", image.digest)]
    assert deleted_manifests(client, repo) == []
    only_a = cli(server, "manifest", "list-deleted-tags", "--name", f"{repo}:a")
    assert [t["tag"] for t in only_a["tags"]] == ["a"]

    untagged_at = "SELECT untagged_at FROM manifests WHERE digest = :d"
    assert sql(server, untagged_at, d=image.digest) == [(None,)]
    assert_status(client.delete(f"/v2/{repo}/manifests/b"), 202)
    assert sql(server, untagged_at, d=image.digest)[0][0] is not None, "untagged_at not set"

    restored = cli(server, "manifest", "restore", "--name", f"{repo}:a")
    assert restored["digest"] == image.digest
    assert restored["manifest_restored"] is False
    assert restored["tags"] == ["a"]
    assert tags_of(client, repo) == ["a"]
    pull_exact(client, repo, "a", image)
    assert sql(server, untagged_at, d=image.digest) == [(None,)], "untagged_at not cleared"
    assert deleted_tags(client, repo) == [("b", image.digest)]


def test_a_tag_that_moved_on_is_only_taken_back_with_force(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "soft/force"
    soft_delete_on(client)
    first = push(client, repo, image_manifest(client, repo), "latest")
    push(client, repo, first, "v1")
    assert_status(client.delete(f"/v2/{repo}/manifests/{first.digest}"), 202)
    second = push(client, repo, image_manifest(client, repo), "latest")

    resp = client.post(f"/api/v1/repositories/{repo}/restore", json={"digest": first.digest})
    assert_status(resp, 200)
    answer = resp.json()
    assert answer["manifest_restored"] is True
    assert answer["tags"] == ["v1"]
    assert answer["skipped"] == ["latest"]
    pull_exact(client, repo, "latest", second)
    pull_exact(client, repo, "v1", first)
    # `latest` of the first image stays restorable on its own.
    assert ("latest", first.digest) in deleted_tags(client, repo)

    error = cli_fails(
        server, "manifest", "restore", "--name", f"{repo}:latest", "--digest", first.digest
    )
    assert "force" in error
    pull_exact(client, repo, "latest", second)

    forced = cli(
        server,
        "manifest",
        "restore",
        "--name",
        f"{repo}:latest",
        "--digest",
        first.digest,
        "--force",
    )
    assert forced["moved"] == ["latest"]
    pull_exact(client, repo, "latest", first)
    # The overwritten tag is soft-deleted in turn (ACR's force restore).
    assert deleted_tags(client, repo) == [("latest", second.digest)]
    assert_consistent(server)


def test_a_deleted_repository_comes_back_from_the_bin(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "soft/whole"
    soft_delete_on(client)
    image = push(client, repo, image_manifest(client, repo, layers=2), "v1")
    loose = push(client, repo, image_manifest(client, repo))  # untagged
    resp = client.delete(f"/acr/v1/{repo}")
    assert_status(resp, 202)
    assert sorted(resp.json()["manifestsDeleted"]) == sorted([image.digest, loose.digest])
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")

    assert sorted(m["digest"] for m in deleted_manifests(client, repo)) == sorted(
        [image.digest, loose.digest]
    )
    gc_now(server)
    assert set(image.blobs) <= stored_blob_files(server)

    restored = cli(server, "manifest", "restore", "--name", repo, "--digest", image.digest)
    assert restored["tags"] == ["v1"]
    pull_exact(client, repo, "v1", image)
    assert [m["digest"] for m in deleted_manifests(client, repo)] == [loose.digest]
    assert_consistent(server)


def test_an_index_comes_back_only_with_its_children(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "soft/index"
    soft_delete_on(client)
    amd = push(client, repo, image_manifest(client, repo))
    arm = push(client, repo, image_manifest(client, repo))
    index = push(client, repo, index_manifest([amd, arm]), "multi")
    assert_status(client.delete(f"/v2/{repo}/manifests/{index.digest}"), 202)
    assert_status(client.delete(f"/v2/{repo}/manifests/{arm.digest}"), 202)

    resp = client.post(f"/api/v1/repositories/{repo}/restore", json={"digest": index.digest})
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")
    assert arm.digest in resp.json()["errors"][0]["message"]
    assert manifest_status(client, repo, "multi") == 404

    resp = client.post(f"/api/v1/repositories/{repo}/restore", json={"digest": arm.digest})
    assert_status(resp, 200)
    resp = client.post(f"/api/v1/repositories/{repo}/restore", json={"digest": index.digest})
    assert_status(resp, 200)
    pull_exact(client, repo, "multi", index)
    pull_exact(client, repo, arm.digest, arm)
    assert_consistent(server)


def test_without_the_policy_deletes_are_final_and_gc_collection_never_soft(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(
        env={
            "DOCKYARD_GC_ENABLED": "false",
            "DOCKYARD_GC_DELETE_UNTAGGED": "true",
            "DOCKYARD_CLI_CONFIG": str(tmp_path / "cli.json"),
        }
    )
    repo = "soft/off"
    with httpx.Client(base_url=server.url, timeout=60) as client:
        gone = push(client, repo, image_manifest(client, repo), "v1")
        assert_status(client.delete(f"/v2/{repo}/manifests/{gone.digest}"), 202)
        assert deleted_manifests(client, repo) == []

        # With the policy on, GC's own collection of untagged manifests is not a user delete.
        soft_delete_on(client)
        old = push(client, repo, image_manifest(client, repo), "v2")
        push(client, repo, image_manifest(client, repo), "v2")  # `old` is untagged now
        gc_now(server)
        assert manifest_status(client, repo, old.digest) == 404
        assert deleted_manifests(client, repo) == []
        assert not set(old.blobs) & stored_blob_files(server)
        resp = client.get("/api/v1/repositories/soft/never-was/deleted-manifests")
        assert_error(resp, 404, "NAME_UNKNOWN")
