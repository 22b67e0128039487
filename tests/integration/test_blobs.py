"""Pulling, checking and deleting blobs (end-2, end-10), with HTTP range requests (RFC 9110)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.helpers import (
    assert_error,
    assert_status,
    describe,
    random_bytes,
    raw_request,
    sha256,
    sha512,
    unique_digest,
    upload_blob,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

BLOB_SIZE = 100


@pytest.fixture
def blob(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    data = random_bytes(BLOB_SIZE)
    return data, upload_blob(client, repo, data)


def test_get_blob_returns_bytes_and_headers(
    client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    data, digest = blob
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    assert resp.content == data
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    assert resp.headers.get("content-length") == str(len(data)), describe(resp)


def test_get_blob_advertises_byte_ranges(
    client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    _, digest = blob
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    assert resp.headers.get("accept-ranges") == "bytes", describe(resp)


def test_head_blob_headers(client: httpx.Client, repo: str, blob: tuple[bytes, str]) -> None:
    data, digest = blob
    resp = client.head(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    assert resp.headers.get("content-length") == str(len(data)), describe(resp)


def test_head_blob_sends_no_body(
    server: ServerProcess, client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    """Read the raw socket to the end: nothing may follow the HEAD response's headers."""
    data, digest = blob
    resp = raw_request(server.port, "HEAD", f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    assert resp.headers.get("content-length") == str(len(data)), describe(resp)
    assert resp.content == b"", describe(resp)


def test_get_empty_blob(client: httpx.Client, repo: str) -> None:
    digest = upload_blob(client, repo, b"")
    assert digest == sha256(b"")
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    assert resp.content == b""
    assert resp.headers.get("content-length") == "0", describe(resp)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=0-0", 0, 0),
        ("bytes=5-", 5, BLOB_SIZE - 1),
        ("bytes=-4", BLOB_SIZE - 4, BLOB_SIZE - 1),
        ("bytes=90-200", 90, BLOB_SIZE - 1),  # last-pos past the end is clamped
        ("bytes=99-99", 99, 99),
        ("bytes=-1000", 0, BLOB_SIZE - 1),  # suffix longer than the blob: the whole blob
    ],
)
def test_range_request_returns_206_with_exact_bytes(
    client: httpx.Client,
    repo: str,
    blob: tuple[bytes, str],
    range_header: str,
    start: int,
    end: int,
) -> None:
    data, digest = blob
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
    assert_status(resp, 206)
    assert resp.headers.get("content-range") == f"bytes {start}-{end}/{BLOB_SIZE}", describe(resp)
    assert resp.headers.get("content-length") == str(end - start + 1), describe(resp)
    assert resp.content == data[start : end + 1], describe(resp)


@pytest.mark.parametrize("range_header", ["bytes=1000-", f"bytes={BLOB_SIZE}-", "bytes=100-200"])
def test_unsatisfiable_range_is_416_with_size(
    client: httpx.Client, repo: str, blob: tuple[bytes, str], range_header: str
) -> None:
    _, digest = blob
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
    assert_status(resp, 416)
    assert resp.headers.get("content-range") == f"bytes */{BLOB_SIZE}", describe(resp)


def test_backwards_range_is_ignored_or_416(
    client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    """`bytes=50-10` is an invalid byte-range-spec: RFC 9110 lets the server ignore it (200)."""
    data, digest = blob
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=50-10"})
    assert_status(resp, 200, 416)
    if resp.status_code == 200:
        assert resp.content == data


def test_non_bytes_range_unit_is_ignored(
    client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    """An unknown range unit MUST be ignored (RFC 9110 14.2): the whole blob with 200."""
    data, digest = blob
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "items=0-1"})
    assert_status(resp, 200)
    assert resp.content == data


def test_etag_conditional_get(client: httpx.Client, repo: str, blob: tuple[bytes, str]) -> None:
    """When the registry sends an ETag, If-None-Match with it answers 304 Not Modified."""
    _, digest = blob
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    etag = resp.headers.get("etag")
    if not etag:
        pytest.skip("registry sends no ETag for blobs")
    again = client.get(f"/v2/{repo}/blobs/{digest}", headers={"If-None-Match": etag})
    assert_status(again, 304)
    assert again.content == b""


def test_unknown_blob_get_is_404_blob_unknown(client: httpx.Client, repo: str) -> None:
    upload_blob(client, repo, random_bytes(10))  # the repository exists
    resp = client.get(f"/v2/{repo}/blobs/{unique_digest()}")
    assert_error(resp, 404, "BLOB_UNKNOWN")


def test_unknown_blob_head_is_404(client: httpx.Client, repo: str) -> None:
    upload_blob(client, repo, random_bytes(10))
    resp = client.head(f"/v2/{repo}/blobs/{unique_digest()}")
    assert_status(resp, 404)
    assert resp.content == b""


def test_blob_in_unknown_repository_is_404(client: httpx.Client, repo: str) -> None:
    resp = client.get(f"/v2/{repo}/blobs/{unique_digest()}")
    assert_error(resp, 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")


def test_blob_is_scoped_to_its_repository(
    client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    """A blob pushed to one repository is not pullable through another (mount is for that)."""
    _, digest = blob
    other = f"{repo}-other"
    upload_blob(client, other, random_bytes(10))
    resp = client.get(f"/v2/{other}/blobs/{digest}")
    assert_error(resp, 404, "BLOB_UNKNOWN")
    assert_status(client.head(f"/v2/{other}/blobs/{digest}"), 404)


@pytest.mark.parametrize(
    "bad_digest",
    [
        "sha256:xyz",
        "sha256:" + "a" * 63,
        "sha256:" + "g" * 64,
        "notadigest",
        "sha256:",
        ":" + "a" * 64,
    ],
)
def test_invalid_digest_is_400_or_404(client: httpx.Client, repo: str, bad_digest: str) -> None:
    upload_blob(client, repo, random_bytes(10))
    resp = client.get(f"/v2/{repo}/blobs/{bad_digest}")
    assert_error(resp, (400, 404), "DIGEST_INVALID", "BLOB_UNKNOWN")
    if resp.status_code == 400:
        assert_error(resp, 400, "DIGEST_INVALID")
    else:
        assert_error(resp, 404, "BLOB_UNKNOWN")


def test_unsupported_algorithm_is_rejected(client: httpx.Client, repo: str) -> None:
    upload_blob(client, repo, random_bytes(10))
    resp = client.get(f"/v2/{repo}/blobs/md5:{'a' * 32}")
    assert_error(resp, (400, 404), "DIGEST_INVALID", "BLOB_UNKNOWN", "UNSUPPORTED")


def test_delete_blob_is_202_then_404(
    client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    _, digest = blob
    resp = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 202)
    assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_status(client.head(f"/v2/{repo}/blobs/{digest}"), 404)


def test_delete_blob_twice_is_404(client: httpx.Client, repo: str, blob: tuple[bytes, str]) -> None:
    _, digest = blob
    assert_status(client.delete(f"/v2/{repo}/blobs/{digest}"), 202)
    assert_error(client.delete(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_delete_unknown_blob_is_404(client: httpx.Client, repo: str) -> None:
    upload_blob(client, repo, random_bytes(10))
    assert_error(client.delete(f"/v2/{repo}/blobs/{unique_digest()}"), 404, "BLOB_UNKNOWN")


def test_delete_blob_in_one_repo_keeps_it_in_another(
    client: httpx.Client, repo: str, blob: tuple[bytes, str]
) -> None:
    data, digest = blob
    other = f"{repo}-keeper"
    resp = client.post(f"/v2/{other}/blobs/uploads/", params={"mount": digest, "from": repo})
    assert_status(resp, 201)
    assert_status(client.delete(f"/v2/{repo}/blobs/{digest}"), 202)
    kept = client.get(f"/v2/{other}/blobs/{digest}")
    assert_status(kept, 200)
    assert kept.content == data


def test_sha512_blob_roundtrip(client: httpx.Client, repo: str) -> None:
    data = random_bytes(300)
    digest = upload_blob(client, repo, data, algorithm="sha512")
    assert digest == sha512(data)
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    assert resp.content == data
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert_status(head, 200)
    assert head.headers.get("content-length") == "300", describe(head)
    part = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert_status(part, 206)
    assert part.content == data[10:20]
    assert part.headers.get("content-range") == "bytes 10-19/300", describe(part)


def test_sha512_blob_is_not_found_by_its_sha256(client: httpx.Client, repo: str) -> None:
    data = random_bytes(100)
    upload_blob(client, repo, data, algorithm="sha512")
    assert_error(client.get(f"/v2/{repo}/blobs/{sha256(data)}"), 404, "BLOB_UNKNOWN")


def test_large_blob_roundtrip(client: httpx.Client, repo: str) -> None:
    data = random_bytes(5 * 1024 * 1024 + 17)
    digest = upload_blob(client, repo, data)
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(resp, 200)
    assert sha256(resp.content) == digest
    tail = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-17"})
    assert_status(tail, 206)
    assert tail.content == data[-17:]
