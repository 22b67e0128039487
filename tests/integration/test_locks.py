"""Locks (ACR's changeable attributes) and write-once tags, enforced on every path, over HTTP.

A refusal is ACR's: 405 REGISTRY_DISALLOWED_OPERATION with a message naming what is locked.
As in ACR, `writeEnabled=false` on a tag or manifest forbids deleting it as `deleteEnabled=false`
does, a repository's `writeEnabled=false` locks everything in it, its `deleteEnabled=false`
protects only the repository itself, and locking a tag does not lock its manifest.
Registry-wide write-once tags are a protocol test (tests/protocol/test_locks.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.conftest import ServerProcess
from tests.integration.helpers import (
    OCI_MANIFEST,
    Pushed,
    assert_error,
    assert_status,
    describe,
    image_manifest,
    push,
    push_image,
    put_manifest,
    random_bytes,
    sha256,
    upload_blob,
    with_query,
)

DISALLOWED = "REGISTRY_DISALLOWED_OPERATION"
ACCEPT = {"Accept": OCI_MANIFEST}


def lock(client: httpx.Client, path: str, **attributes: bool) -> None:
    resp = client.patch(f"/acr/v1/{path}", json=attributes)
    assert_status(resp, 200)


def refused(resp: httpx.Response, *words: str) -> None:
    """ACR's answer to an operation a lock forbids; the message names what is locked."""
    if resp.request.method == "HEAD":
        assert resp.status_code == 405, "expected 405" + describe(resp)
        return
    [error] = assert_error(resp, 405, DISALLOWED)
    for word in words:
        assert word in error["message"], f"{word!r} not in the message" + describe(resp)


def tag_digest(client: httpx.Client, repo: str, tag: str) -> str:
    resp = client.get(f"/acr/v1/{repo}/_tags/{tag}")
    assert_status(resp, 200)
    digest: str = resp.json()["tag"]["digest"]
    return digest


def tag_names(client: httpx.Client, repo: str) -> list[str]:
    resp = client.get(f"/v2/{repo}/tags/list")
    assert_status(resp, 200)
    names: list[str] = resp.json()["tags"]
    return names


def acr_list(client: httpx.Client, path: str, key: str) -> list[Any]:
    resp = client.get(f"/acr/v1/{path}", params={"n": 1000})
    assert_status(resp, 200)
    items: list[Any] = resp.json()[key]
    return items


def catalog(client: httpx.Client, path: str = "/v2/_catalog") -> list[str]:
    resp = client.get(path, params={"n": 100000})
    assert_status(resp, 200)
    names: list[str] = resp.json()["repositories"]
    return names


def pull(client: httpx.Client, repo: str, reference: str) -> httpx.Response:
    return client.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)


# --- tags --------------------------------------------------------------------------------------


def test_write_locked_tag_cannot_move_or_be_deleted(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    lock(client, f"{repo}/_tags/v1", writeEnabled=False)

    other = image_manifest(client, repo)
    refused(
        put_manifest(client, repo, "v1", other.body, other.media_type), "tag 'v1'", "writeEnabled"
    )
    # Nor through the extra `tag` parameters of a push by digest.
    resp = put_manifest(client, repo, other.digest, other.body, other.media_type, [("tag", "v1")])
    refused(resp, "tag 'v1'")
    assert tag_digest(client, repo, "v1") == image.digest
    assert_error(pull(client, repo, other.digest), 404, "MANIFEST_UNKNOWN")  # nothing half-done

    # Pushing the same manifest again under it changes nothing, so it is fine.
    assert_status(put_manifest(client, repo, "v1", image.body, image.media_type), 201)
    # As in ACR, a write-locked tag cannot be deleted either.
    refused(client.delete(f"/v2/{repo}/manifests/v1"), "tag 'v1'", "writeEnabled")
    refused(client.delete(f"/acr/v1/{repo}/_tags/v1"), "tag 'v1'")
    refused(client.delete(f"/v2/{repo}/manifests/{image.digest}"), "tag 'v1'")
    assert tag_names(client, repo) == ["v1"]

    # Locking a tag does not lock its manifest, nor other tags on it.
    resp = client.get(f"/acr/v1/{repo}/_manifests/{image.digest}")
    assert resp.json()["manifest"]["changeableAttributes"]["writeEnabled"] is True
    push(client, repo, image, "v2")
    assert_status(client.delete(f"/v2/{repo}/manifests/v2"), 202)

    lock(client, f"{repo}/_tags/v1", writeEnabled=True)
    push(client, repo, other, "v1")
    assert tag_digest(client, repo, "v1") == other.digest


def test_delete_locked_tag_can_move_but_not_be_deleted(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    lock(client, f"{repo}/_tags/v1", deleteEnabled=False)
    refused(client.delete(f"/v2/{repo}/manifests/v1"), "tag 'v1'", "deleteEnabled")
    refused(client.delete(f"/acr/v1/{repo}/_tags/v1"), "deleteEnabled")
    # Deleting its manifest would delete the tag.
    refused(client.delete(f"/v2/{repo}/manifests/{image.digest}"), "tag 'v1'")
    refused(client.delete(f"/acr/v1/{repo}/_manifests/{image.digest}"), "tag 'v1'")
    refused(client.delete(f"/acr/v1/{repo}"), "tag 'v1'")
    assert_status(pull(client, repo, image.digest), 200)

    moved = push_image(client, repo, "v1")  # deleteEnabled=false still lets it move
    assert tag_digest(client, repo, "v1") == moved.digest
    assert_status(client.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)

    lock(client, f"{repo}/_tags/v1", deleteEnabled=True)
    assert_status(client.delete(f"/acr/v1/{repo}/_tags/v1"), 202)
    assert tag_names(client, repo) == []


# --- manifests -------------------------------------------------------------------------------


def test_locked_manifest_cannot_be_deleted(client: httpx.Client, repo: str) -> None:
    for attribute in ("deleteEnabled", "writeEnabled"):
        image = push_image(client, repo, "v1")
        lock(client, f"{repo}/_manifests/{image.digest}", **{attribute: False})
        for resp in (
            client.delete(f"/v2/{repo}/manifests/{image.digest}"),
            client.delete(f"/acr/v1/{repo}/_manifests/{image.digest}"),
        ):
            refused(resp, f"manifest {image.digest}", attribute)
        refused(client.delete(f"/acr/v1/{repo}"), image.digest, attribute)
        assert_status(pull(client, repo, image.digest), 200)
        # Its tags are not locked: they may be moved and deleted.
        assert_status(client.delete(f"/v2/{repo}/manifests/v1"), 202)
        assert_status(pull(client, repo, image.digest), 200)
        lock(client, f"{repo}/_manifests/{image.digest}", **{attribute: True})
        assert_status(client.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)


# --- repositories ----------------------------------------------------------------------------


def test_write_locked_repository_refuses_pushes_and_deletes(
    client: httpx.Client, repo: str
) -> None:
    image = push_image(client, repo, "v1")
    ready = image_manifest(client, repo)  # its blobs are in; pushed below
    source = f"{repo}-source"
    loose = upload_blob(client, source, random_bytes(40))
    lock(client, repo, writeEnabled=False)

    data = random_bytes(50)
    refused(
        client.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"}),
        f"repository {repo!r}",
        "writeEnabled",
    )
    refused(
        client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data),
        "writeEnabled",
    )
    mount = client.post(f"/v2/{repo}/blobs/uploads/", params={"mount": loose, "from": source})
    refused(mount, "writeEnabled")
    refused(put_manifest(client, repo, ready.digest, ready.body, ready.media_type), "writeEnabled")
    refused(put_manifest(client, repo, "v2", ready.body, ready.media_type), "writeEnabled")
    refused(client.delete(f"/v2/{repo}/manifests/v1"), "writeEnabled")
    refused(client.delete(f"/acr/v1/{repo}/_manifests/{image.digest}"), "writeEnabled")
    refused(client.delete(f"/v2/{repo}/blobs/{image.blobs[1]}"), "writeEnabled")
    refused(client.delete(f"/acr/v1/{repo}"), f"repository {repo!r}", "writeEnabled")

    # Nothing of the refused pushes is there; everything that was is still readable.
    assert_status(client.head(f"/v2/{repo}/blobs/{loose}"), 404)
    assert_error(pull(client, repo, ready.digest), 404, "MANIFEST_UNKNOWN")
    assert tag_names(client, repo) == ["v1"]
    assert_status(pull(client, repo, "v1"), 200)
    assert_status(client.get(f"/v2/{repo}/blobs/{image.blobs[1]}"), 200)

    lock(client, repo, writeEnabled=True)
    push(client, repo, ready, "v2")
    assert tag_names(client, repo) == ["v1", "v2"]


def test_delete_locked_repository_protects_only_itself(client: httpx.Client, repo: str) -> None:
    """ACR: the repository cannot be deleted; its images can still be pushed and deleted."""
    image = push_image(client, repo, "v1")
    lock(client, repo, deleteEnabled=False)
    refused(client.delete(f"/acr/v1/{repo}"), f"repository {repo!r}", "deleteEnabled")
    second = push_image(client, repo, "v2")
    assert_status(client.delete(f"/v2/{repo}/manifests/v1"), 202)
    assert_status(client.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)
    assert_status(client.delete(f"/acr/v1/{repo}/_manifests/{second.digest}"), 202)
    lock(client, repo, deleteEnabled=True)
    assert_status(client.delete(f"/acr/v1/{repo}"), 202)


def test_read_locked_repository_refuses_pulls(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    lock(client, repo, readEnabled=False)
    for reference in ("v1", image.digest):
        refused(pull(client, repo, reference), f"repository {repo!r}", "readEnabled")
        refused(client.head(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT))
    for digest in image.blobs:
        refused(client.get(f"/v2/{repo}/blobs/{digest}"), "readEnabled")
        refused(client.head(f"/v2/{repo}/blobs/{digest}"))
    refused(client.get(f"/v2/{repo}/blobs/{image.digest}"), "readEnabled")  # manifest as blob
    # Its metadata stays readable, and unknown content is still unknown.
    assert tag_names(client, repo) == ["v1"]
    assert_status(client.get(f"/acr/v1/{repo}/_manifests/{image.digest}"), 200)
    assert_error(pull(client, repo, "nope"), 404, "MANIFEST_UNKNOWN")
    # A mount from it is an ordinary upload: its blobs do not leak into another repository.
    other = f"{repo}-other"
    resp = client.post(
        f"/v2/{other}/blobs/uploads/", params={"mount": image.blobs[1], "from": repo}
    )
    assert_status(resp, 202)

    lock(client, repo, readEnabled=True)
    got = pull(client, repo, "v1")
    assert_status(got, 200)
    assert got.content == image.body


def test_read_locked_tag_and_manifest(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    push(client, repo, image, "v2")
    lock(client, f"{repo}/_tags/v1", readEnabled=False)
    refused(pull(client, repo, "v1"), "tag 'v1'", "readEnabled")
    assert_status(pull(client, repo, "v2"), 200)
    assert_status(pull(client, repo, image.digest), 200)

    lock(client, f"{repo}/_tags/v1", readEnabled=True)
    lock(client, f"{repo}/_manifests/{image.digest}", readEnabled=False)
    refused(pull(client, repo, image.digest), "manifest", "readEnabled")
    refused(pull(client, repo, "v2"), "manifest", "readEnabled")
    refused(client.get(f"/v2/{repo}/blobs/{image.digest}"), "readEnabled")
    # Its blobs are content of their own, shared with other images.
    assert_status(client.get(f"/v2/{repo}/blobs/{image.blobs[0]}"), 200)


def test_unlisted_repository_tag_and_manifest_are_hidden(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    push(client, repo, image, "v2")
    hidden = push_image(client, repo, "v3")
    assert repo in catalog(client)

    lock(client, repo, listEnabled=False)
    assert repo not in catalog(client)
    assert repo not in catalog(client, "/acr/v1/_catalog")
    assert_status(pull(client, repo, "v1"), 200)
    assert tag_names(client, repo) == ["v1", "v2", "v3"]

    lock(client, f"{repo}/_tags/v2", listEnabled=False)
    assert tag_names(client, repo) == ["v1", "v3"]
    assert [t["name"] for t in acr_list(client, f"{repo}/_tags", "tags")] == ["v1", "v3"]
    [entry] = [
        m
        for m in acr_list(client, f"{repo}/_manifests", "manifests")
        if m["digest"] == image.digest
    ]
    assert entry["tags"] == ["v1"]
    assert_status(pull(client, repo, "v2"), 200)
    assert_status(client.get(f"/acr/v1/{repo}/_tags/v2"), 200)

    lock(client, f"{repo}/_manifests/{hidden.digest}", listEnabled=False)
    digests = [m["digest"] for m in acr_list(client, f"{repo}/_manifests", "manifests")]
    assert digests == [image.digest]
    assert_status(pull(client, repo, hidden.digest), 200)

    lock(client, repo, listEnabled=True)
    assert repo in catalog(client, "/acr/v1/_catalog")


# --- write-once tags -------------------------------------------------------------------------


def check_immutable(client: httpx.Client, repo: str, image: Pushed) -> None:
    """`image` is tagged v1 in `repo` and tags there are write-once."""
    other = image_manifest(client, repo)
    refused(put_manifest(client, repo, "v1", other.body, other.media_type), "'v1'", "immutable")
    refused(client.delete(f"/v2/{repo}/manifests/v1"), "immutable")
    refused(client.delete(f"/acr/v1/{repo}/_tags/v1"), "immutable")
    refused(client.delete(f"/v2/{repo}/manifests/{image.digest}"), "immutable")
    refused(client.delete(f"/acr/v1/{repo}"), "immutable")
    assert tag_digest(client, repo, "v1") == image.digest
    # The same digest again is fine, as are new tags and untagged manifests.
    assert_status(put_manifest(client, repo, "v1", image.body, image.media_type), 201)
    push(client, repo, other, "v2")
    loose = push_image(client, repo)
    assert_status(client.delete(f"/v2/{repo}/manifests/{loose.digest}"), 202)
    refused(put_manifest(client, repo, "v2", image.body, image.media_type), "'v2'", "immutable")


def test_repository_with_write_once_tags(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    resp = client.patch(f"/acr/v1/{repo}", json={"tagImmutability": True})
    assert_status(resp, 200)
    check_immutable(client, repo, image)
    # Other repositories are not affected.
    elsewhere = f"{repo}-mutable"
    push_image(client, elsewhere, "v1")
    push_image(client, elsewhere, "v1")

    lock(client, repo, tagImmutability=False)
    assert_status(client.delete(f"/v2/{repo}/manifests/v1"), 202)


def test_locks_survive_a_restart_and_apply_in_every_worker(
    server_factory: type[ServerProcess],
) -> None:
    server = server_factory(workers=2)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        repo = "restart/app"
        push_image(client, repo, "v1")
        lock(client, f"{repo}/_tags/v1", writeEnabled=False)
        for _ in range(6):  # requests land on both workers
            refused(client.delete(f"/v2/{repo}/manifests/v1"), "tag 'v1'")
    server.restart()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        refused(client.delete(f"/v2/{repo}/manifests/v1"), "tag 'v1'")
        resp = client.get(f"/acr/v1/{repo}/_tags/v1")
        assert resp.json()["tag"]["changeableAttributes"]["writeEnabled"] is False


def test_refused_monolithic_push_leaves_nothing(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    lock(client, repo, writeEnabled=False)
    data = random_bytes(70)
    started = client.post(
        with_query(f"/v2/{repo}/blobs/uploads/", [("digest", sha256(data))]), content=data
    )
    refused(started, "writeEnabled")
    lock(client, repo, writeEnabled=True)
    assert_status(client.head(f"/v2/{repo}/blobs/{sha256(data)}"), 404)


def test_a_lock_taken_during_pushes_holds_from_then_on(
    server_factory: type[ServerProcess],
) -> None:
    """Pushes race a PATCH that locks their tag: once the PATCH has answered, the tag never
    moves again, and every push either landed before it or is refused (never a 500)."""
    server = server_factory(workers=2)
    repo = "race/app"
    with httpx.Client(base_url=server.url, timeout=60) as client:
        push_image(client, repo, "v1")
        ready = [image_manifest(client, repo) for _ in range(40)]
    statuses: list[int] = []
    locked = threading.Event()

    def pusher() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for manifest in ready:
                resp = put_manifest(http, repo, "v1", manifest.body, manifest.media_type)
                statuses.append(resp.status_code)
                if locked.is_set() and resp.status_code == 405:
                    break

    threads = [threading.Thread(target=pusher) for _ in range(2)]
    for thread in threads:
        thread.start()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        while len(statuses) < 6:
            time.sleep(0.01)
        lock(client, f"{repo}/_tags/v1", writeEnabled=False)
        locked.set()
        frozen = tag_digest(client, repo, "v1")
        for thread in threads:
            thread.join()
        assert tag_digest(client, repo, "v1") == frozen
        assert set(statuses) <= {201, 405}, statuses
        assert statuses.count(405) >= 1, statuses
        for manifest in ready[-3:]:
            resp = put_manifest(client, repo, "v1", manifest.body, manifest.media_type)
            refused(resp, "tag 'v1'")
