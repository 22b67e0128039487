"""Pushing blobs (end-4a, end-4b, end-5, end-6, end-11, end-13, end-14): monolithic, chunked,
streamed, cancelled and mounted uploads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.helpers import (
    assert_error,
    assert_status,
    describe,
    digest_of,
    location,
    random_bytes,
    sha256,
    sha512,
    start_upload,
    unique_digest,
    upload_blob,
    with_query,
)


def chunk_size(started: httpx.Response, wanted: int) -> int:
    """At least the registry's OCI-Chunk-Min-Length, when it sets one."""
    minimum = started.headers.get("oci-chunk-min-length")
    return max(wanted, int(minimum)) if minimum else wanted


def patch_chunk(client: httpx.Client, url: str, data: bytes, start: int) -> httpx.Response:
    return client.patch(
        url,
        content=data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(data) - 1}",
        },
    )


def assert_blob(client: httpx.Client, repo: str, digest: str, data: bytes) -> None:
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    algorithm = digest.split(":", 1)[0]
    assert digest_of(resp.content, algorithm) == digest, (
        f"served bytes hash to {digest_of(resp.content, algorithm)}, not to the requested digest"
        + describe(resp, limit=64)
    )
    assert resp.content == data, "stored blob differs from the uploaded bytes"


def assert_range(resp: httpx.Response, end: int) -> None:
    """The upload progress header of OCI distribution-spec 1.1: `Range: 0-<end-of-range>`."""
    assert resp.headers.get("range") == f"0-{end}", describe(resp)


# --- monolithic ---------------------------------------------------------------------------------


def test_single_post_monolithic_upload(client: httpx.Client, repo: str) -> None:
    data = random_bytes(1000)
    digest = sha256(data)
    resp = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    pulled = client.get(location(resp))
    assert_status(pulled, 200)
    assert pulled.content == data
    assert_blob(client, repo, digest, data)


def test_post_then_put_monolithic_upload(client: httpx.Client, repo: str) -> None:
    data = random_bytes(2000)
    digest = sha256(data)
    started = start_upload(client, repo)
    resp = client.put(
        with_query(location(started), [("digest", digest)]),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    pulled = client.get(location(resp))
    assert_status(pulled, 200)
    assert pulled.content == data


def test_post_starts_session_with_uuid_header(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    uuid = started.headers.get("docker-upload-uuid")
    assert uuid, "no Docker-Upload-UUID on the upload POST" + describe(started)
    assert uuid in location(started), describe(started)


def test_sessions_are_distinct(client: httpx.Client, repo: str) -> None:
    first = location(start_upload(client, repo))
    second = location(start_upload(client, repo))
    assert first != second


def test_completed_session_is_gone(client: httpx.Client, repo: str) -> None:
    data = random_bytes(50)
    started = start_upload(client, repo)
    url = location(started)
    resp = client.put(with_query(url, [("digest", sha256(data))]), content=data)
    assert_status(resp, 201)
    assert_error(client.get(url), 404, "BLOB_UPLOAD_UNKNOWN")


def test_put_without_digest_is_rejected(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    resp = client.put(location(started), content=random_bytes(20))
    assert_error(resp, 400, "DIGEST_INVALID", "BLOB_UPLOAD_INVALID")


def test_digest_mismatch_at_put_is_400_and_blob_absent(client: httpx.Client, repo: str) -> None:
    data = random_bytes(500)
    claimed = sha256(b"something else entirely")
    started = start_upload(client, repo)
    resp = client.put(with_query(location(started), [("digest", claimed)]), content=data)
    assert_error(resp, 400, "DIGEST_INVALID")
    assert_status(client.head(f"/v2/{repo}/blobs/{claimed}"), 404)
    assert_status(client.head(f"/v2/{repo}/blobs/{sha256(data)}"), 404)


def test_digest_mismatch_at_single_post_is_400_and_blob_absent(
    client: httpx.Client, repo: str
) -> None:
    data = random_bytes(500)
    claimed = unique_digest()
    resp = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": claimed}, content=data)
    assert_error(resp, 400, "DIGEST_INVALID")
    assert_status(client.head(f"/v2/{repo}/blobs/{claimed}"), 404)
    assert_status(client.head(f"/v2/{repo}/blobs/{sha256(data)}"), 404)


def test_repeated_digest_mismatches_leave_the_server_healthy(
    client: httpx.Client, repo: str
) -> None:
    """A rejected upload releases its file exactly once: later requests still work."""
    for _ in range(12):
        data = random_bytes(300)
        resp = client.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": unique_digest()}, content=data
        )
        assert_error(resp, 400, "DIGEST_INVALID")
        started = start_upload(client, repo)
        resp = client.put(
            with_query(location(started), [("digest", unique_digest())]), content=data
        )
        assert_error(resp, 400, "DIGEST_INVALID")
        assert_status(client.head(f"/v2/{repo}/blobs/{sha256(data)}"), 404)
    good = random_bytes(300)
    digest = upload_blob(client, repo, good)
    assert_blob(client, repo, digest, good)


def test_malformed_digest_at_put_is_400(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    resp = client.put(with_query(location(started), [("digest", "sha256:nothex")]), content=b"abc")
    assert_error(resp, 400, "DIGEST_INVALID")


def test_sha512_monolithic_upload(client: httpx.Client, repo: str) -> None:
    data = random_bytes(777)
    digest = sha512(data)
    started = start_upload(client, repo)
    resp = client.put(with_query(location(started), [("digest", digest)]), content=data)
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    assert_blob(client, repo, digest, data)


def test_sha512_single_post_upload(client: httpx.Client, repo: str) -> None:
    data = random_bytes(321)
    digest = sha512(data)
    resp = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    assert_blob(client, repo, digest, data)


def test_sha512_digest_mismatch_is_400(client: httpx.Client, repo: str) -> None:
    data = random_bytes(64)
    claimed = sha512(b"other")
    started = start_upload(client, repo)
    resp = client.put(with_query(location(started), [("digest", claimed)]), content=data)
    assert_error(resp, 400, "DIGEST_INVALID")
    assert_status(client.head(f"/v2/{repo}/blobs/{claimed}"), 404)


def test_uploading_existing_blob_again_succeeds(client: httpx.Client, repo: str) -> None:
    data = random_bytes(128)
    digest = upload_blob(client, repo, data)
    assert upload_blob(client, repo, data) == digest
    assert_blob(client, repo, digest, data)


# --- chunked ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_chunked_upload_then_put(client: httpx.Client, repo: str, algorithm: str) -> None:
    started = start_upload(client, repo)
    size = chunk_size(started, 100)
    data = random_bytes(size * 3 + 7)
    url = location(started)
    offset = 0
    for piece in (data[:size], data[size : 2 * size], data[2 * size :]):
        resp = patch_chunk(client, url, piece, offset)
        assert_status(resp, 202)
        offset += len(piece)
        assert_range(resp, offset - 1)
        assert resp.headers.get("location"), describe(resp)
        url = location(resp)
    digest = digest_of(data, algorithm)
    done = client.put(with_query(url, [("digest", digest)]))
    assert_status(done, 201)
    assert done.headers.get("docker-content-digest") == digest, describe(done)
    pulled = client.get(location(done))
    assert_status(pulled, 200)
    assert pulled.content == data
    assert_blob(client, repo, digest, data)


def test_chunked_upload_final_chunk_in_put(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    size = chunk_size(started, 100)
    data = random_bytes(size + 40)
    first = patch_chunk(client, location(started), data[:size], 0)
    assert_status(first, 202)
    rest = data[size:]
    done = client.put(
        with_query(location(first), [("digest", sha256(data))]),
        content=rest,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{size}-{len(data) - 1}",
        },
    )
    assert_status(done, 201)
    assert_blob(client, repo, sha256(data), data)


def test_upload_status_after_chunks(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    size = chunk_size(started, 100)
    data = random_bytes(size * 2)
    resp = patch_chunk(client, location(started), data[:size], 0)
    assert_status(resp, 202)
    resp = patch_chunk(client, location(resp), data[size:], size)
    assert_status(resp, 202)
    status = client.get(location(resp))
    assert_status(status, 204)
    assert_range(status, 2 * size - 1)
    assert status.headers.get("location"), describe(status)
    assert status.headers.get("docker-upload-uuid"), describe(status)
    assert status.headers.get("docker-upload-uuid") == started.headers.get("docker-upload-uuid"), (
        describe(status)
    )
    assert status.content == b""


def test_out_of_order_chunk_is_416_and_session_survives(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    size = chunk_size(started, 100)
    data = random_bytes(size * 2)
    first = patch_chunk(client, location(started), data[:size], 0)
    assert_status(first, 202)
    url = location(first)
    skipped = patch_chunk(client, url, data[size:], size + 10)  # leaves a gap
    assert_status(skipped, 416)
    # Docker Registry API v2: the 416 carries the upload's Location and current Range.
    assert skipped.headers.get("location"), describe(skipped)
    assert_range(skipped, size - 1)
    status = client.get(url)
    assert_status(status, 204)
    assert_range(status, size - 1)
    retry = patch_chunk(client, location(status), data[size:], size)
    assert_status(retry, 202)
    assert_range(retry, 2 * size - 1)
    done = client.put(with_query(location(retry), [("digest", sha256(data))]))
    assert_status(done, 201)
    assert_blob(client, repo, sha256(data), data)


def test_first_chunk_not_at_zero_is_416(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    resp = patch_chunk(client, location(started), random_bytes(10), 5)
    assert_status(resp, 416)


def test_overlapping_chunk_is_416(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    size = chunk_size(started, 100)
    data = random_bytes(size * 2)
    first = patch_chunk(client, location(started), data[:size], 0)
    assert_status(first, 202)
    overlap = patch_chunk(client, location(first), data[size // 2 : size // 2 + size], size // 2)
    assert_status(overlap, 416)
    status = client.get(location(first))
    assert_status(status, 204)
    assert_range(status, size - 1)


def test_invalid_content_range_is_rejected(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    resp = client.patch(
        location(started), content=b"0123456789", headers={"Content-Range": "bytes nonsense"}
    )
    assert_status(resp, 400, 416)


def test_content_range_not_matching_body_length_is_rejected(
    client: httpx.Client, repo: str
) -> None:
    started = start_upload(client, repo)
    resp = client.patch(location(started), content=b"0123456789", headers={"Content-Range": "0-19"})
    assert_status(resp, 400, 416)
    status = client.get(location(started))
    assert_status(status, 204)
    assert status.headers.get("range") in (None, "0-0", "0--1", "bytes=0-0"), describe(status)


def test_streamed_patch_without_content_range(client: httpx.Client, repo: str) -> None:
    data = random_bytes(256 * 1024 + 3)

    def body(payload: bytes) -> Iterator[bytes]:
        for i in range(0, len(payload), 10_000):
            yield payload[i : i + 10_000]

    started = start_upload(client, repo)
    half = len(data) // 2
    resp = client.patch(
        location(started),
        content=body(data[:half]),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_status(resp, 202)
    assert_range(resp, half - 1)
    resp = client.patch(
        location(resp),
        content=body(data[half:]),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_status(resp, 202)
    assert_range(resp, len(data) - 1)
    done = client.put(with_query(location(resp), [("digest", sha256(data))]))
    assert_status(done, 201)
    assert_blob(client, repo, sha256(data), data)


def test_patch_without_content_range(client: httpx.Client, repo: str) -> None:
    """Docker streams layers with PATCH and no Content-Range; each PATCH appends."""
    data = random_bytes(3000)
    started = start_upload(client, repo)
    resp = client.patch(location(started), content=data[:1000])
    assert_status(resp, 202)
    assert_range(resp, 999)
    resp = client.patch(location(resp), content=data[1000:])
    assert_status(resp, 202)
    assert_range(resp, 2999)
    done = client.put(with_query(location(resp), [("digest", sha256(data))]))
    assert_status(done, 201)
    assert_blob(client, repo, sha256(data), data)


def test_streamed_put_body(client: httpx.Client, repo: str) -> None:
    data = random_bytes(100_000)

    def body() -> Iterator[bytes]:
        for i in range(0, len(data), 7_000):
            yield data[i : i + 7_000]

    started = start_upload(client, repo)
    done = client.put(with_query(location(started), [("digest", sha256(data))]), content=body())
    assert_status(done, 201)
    assert_blob(client, repo, sha256(data), data)


def test_chunked_digest_mismatch_is_400(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    data = random_bytes(chunk_size(started, 100))
    resp = patch_chunk(client, location(started), data, 0)
    assert_status(resp, 202)
    claimed = sha256(data + b"x")
    done = client.put(with_query(location(resp), [("digest", claimed)]))
    assert_error(done, 400, "DIGEST_INVALID")
    assert_status(client.head(f"/v2/{repo}/blobs/{claimed}"), 404)
    assert_status(client.head(f"/v2/{repo}/blobs/{sha256(data)}"), 404)


# --- status and cancel --------------------------------------------------------------------------


def test_status_of_fresh_session(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    status = client.get(location(started))
    assert_status(status, 204)
    assert status.headers.get("location"), describe(status)
    assert status.headers.get("docker-upload-uuid"), describe(status)


def test_cancel_upload_is_204_then_404(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    url = location(started)
    patched = patch_chunk(client, url, random_bytes(chunk_size(started, 10)), 0)
    assert_status(patched, 202)
    url = location(patched)
    assert_status(client.delete(url), 204)
    assert_error(client.get(url), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(client, url, b"more", 10), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        client.put(with_query(url, [("digest", unique_digest())])), 404, "BLOB_UPLOAD_UNKNOWN"
    )


def test_cancel_unknown_upload_is_404(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    url = location(started)
    assert_status(client.delete(url), 204)
    assert_error(client.delete(url), 404, "BLOB_UPLOAD_UNKNOWN")


def test_unknown_session_is_404(client: httpx.Client, repo: str) -> None:
    upload_blob(client, repo, random_bytes(10))
    bogus = f"/v2/{repo}/blobs/uploads/00000000-0000-4000-8000-000000000000"
    assert_error(client.get(bogus), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.patch(bogus, content=b"abc"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        client.put(with_query(bogus, [("digest", sha256(b"abc"))]), content=b"abc"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )


def test_session_is_scoped_to_its_repository(client: httpx.Client, repo: str) -> None:
    """A session started in one repository cannot be driven through another's path."""
    started = start_upload(client, repo)
    url = location(started)
    path = httpx.URL(url).path
    match = re.match(rf"^/v2/{re.escape(repo)}/blobs/uploads/(.+)$", path)
    if match is None:
        pytest.skip("upload URL is not of the /v2/<name>/blobs/uploads/<id> form")
    other = f"{repo}-elsewhere"
    upload_blob(client, other, random_bytes(10))
    resp = client.get(f"/v2/{other}/blobs/uploads/{match.group(1)}")
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN")


# --- mount --------------------------------------------------------------------------------------


def test_cross_repository_mount(client: httpx.Client, repo: str) -> None:
    data = random_bytes(400)
    digest = upload_blob(client, repo, data)
    target = f"{repo}-mounted"
    resp = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": repo})
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    pulled = client.get(location(resp))
    assert_status(pulled, 200)
    assert pulled.content == data
    assert_blob(client, target, digest, data)


def test_mount_without_from_when_blob_exists(client: httpx.Client, repo: str) -> None:
    data = random_bytes(400)
    digest = upload_blob(client, repo, data)
    target = f"{repo}-nofrom"
    resp = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    assert_blob(client, target, digest, data)


def test_mount_of_unknown_blob_falls_back_to_upload(client: httpx.Client, repo: str) -> None:
    upload_blob(client, repo, random_bytes(10))
    target = f"{repo}-fallback"
    missing = unique_digest()
    resp = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": missing, "from": repo})
    assert_status(resp, 202)
    url = location(resp)
    assert_status(client.get(url), 204)
    data = random_bytes(99)
    done = client.put(with_query(url, [("digest", sha256(data))]), content=data)
    assert_status(done, 201)
    assert_blob(client, target, sha256(data), data)
    assert_status(client.head(f"/v2/{target}/blobs/{missing}"), 404)


def test_mount_from_repo_without_the_blob(client: httpx.Client, repo: str) -> None:
    """`from` names a repository that lacks the blob: either a fallback upload session (202) or,
    since `from` MAY be treated as optional, a mount of the blob found elsewhere (201)."""
    data = random_bytes(200)
    digest = upload_blob(client, repo, data)
    source = f"{repo}-empty"
    upload_blob(client, source, random_bytes(10))
    target = f"{repo}-target"
    resp = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert_status(resp, 201, 202)
    if resp.status_code == 201:
        assert_blob(client, target, digest, data)
    else:
        assert_status(client.get(location(resp)), 204)
        assert_status(client.head(f"/v2/{target}/blobs/{digest}"), 404)


@pytest.mark.parametrize(
    ("mount", "source"),
    [
        ("sha256:nothex", None),
        ("notadigest", None),
        (None, "Bad//Name"),
        (None, "../../etc"),
    ],
)
def test_mount_with_invalid_arguments_falls_back_to_upload(
    client: httpx.Client, repo: str, mount: str | None, source: str | None
) -> None:
    """ "If a mount fails due to invalid repository or digest arguments, the registry will fall
    back to the standard upload behavior and return a 202 Accepted" (Docker Registry API v2;
    OCI 1.1: a registry unable to mount the blob SHOULD return 202)."""
    data = random_bytes(10)
    digest = upload_blob(client, repo, data)
    params = {"mount": mount or digest, "from": source or repo}
    resp = client.post(f"/v2/{repo}-x/blobs/uploads/", params=params)
    assert_status(resp, 202)
    url = location(resp)
    assert_status(client.get(url), 204)
    done = client.put(with_query(url, [("digest", digest)]), content=data)
    assert_status(done, 201)


def test_mount_sha512_blob(client: httpx.Client, repo: str) -> None:
    data = random_bytes(222)
    digest = upload_blob(client, repo, data, algorithm="sha512")
    target = f"{repo}-512"
    resp = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": repo})
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    assert_blob(client, target, digest, data)


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_chunks_at_the_same_offset(client: httpx.Client, repo: str) -> None:
    """Two PATCHes race for offset 0 (on two workers): one wins, the other gets 416, and the
    blob is exactly the winner's bytes."""
    for _ in range(5):
        started = start_upload(client, repo)
        url = location(started)
        size = chunk_size(started, 64 * 1024)
        pieces = [random_bytes(size), random_bytes(size)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda data, u=url: patch_chunk(client, u, data, 0), pieces))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [202, 416], [describe(r) for r in results]
        winner = pieces[[r.status_code for r in results].index(202)]
        done = client.put(with_query(url, [("digest", sha256(winner))]))
        assert_status(done, 201)
        assert_blob(client, repo, sha256(winner), winner)


def test_concurrent_completion_of_one_session(client: httpx.Client, repo: str) -> None:
    """Two PUTs complete the same session at once: exactly one 201, the other an error."""
    for _ in range(5):
        data = random_bytes(32 * 1024)
        started = start_upload(client, repo)
        url = location(started)
        patched = patch_chunk(client, url, data, 0)
        assert_status(patched, 202)
        final = with_query(location(patched), [("digest", sha256(data))])
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda _, u=final: client.put(u), range(2)))
        statuses = sorted(r.status_code for r in results)
        assert statuses[0] == 201, [describe(r) for r in results]
        if statuses[1] != 201:
            loser = next(r for r in results if r.status_code != 201)
            assert_error(loser, (400, 404), "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")
        assert_blob(client, repo, sha256(data), data)


def test_final_put_chunk_at_wrong_offset_is_416(client: httpx.Client, repo: str) -> None:
    started = start_upload(client, repo)
    size = chunk_size(started, 100)
    data = random_bytes(size + 50)
    first = patch_chunk(client, location(started), data[:size], 0)
    assert_status(first, 202)
    resp = client.put(
        with_query(location(first), [("digest", sha256(data))]),
        content=data[size:],
        headers={"Content-Range": f"{size + 5}-{size + 54}"},
    )
    assert_status(resp, 416)
    assert_status(client.head(f"/v2/{repo}/blobs/{sha256(data)}"), 404)
