"""A blob file deleted or damaged behind the server (issue #11, point 13): reads answer
BLOB_UNKNOWN in the OCI envelope and log the digest, pushes of the same bytes repair the file,
mounts do not link a blob whose bytes are gone, and `dockyard check` reports it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.helpers import (
    OCI_MANIFEST,
    assert_error,
    assert_status,
    describe,
    image_manifest,
    location,
    put_manifest,
    random_bytes,
    sha256,
    start_upload,
    upload_blob,
    with_query,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own: the damage done here must not meet the shared server's
    `dockyard check` in other tests."""
    srv = ServerProcess(tmp_path_factory.mktemp("dockyard-blob-faults"), workers=2)
    srv.start()
    yield srv
    srv.stop()


def blob_path(server: ServerProcess, digest: str) -> Path:
    algorithm, hex_part = digest.split(":", 1)
    return server.data_dir / "storage" / "blobs" / algorithm / hex_part[:2] / hex_part


def _delete(path: Path) -> None:
    path.unlink()


def _truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {"missing": _delete, "short": _truncate}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_reads_of_a_damaged_blob_are_blob_unknown(
    client: httpx.Client, server: ServerProcess, repo: str, damage: str
) -> None:
    data = random_bytes(4096)
    digest = upload_blob(client, repo, data)
    DAMAGE[damage](blob_path(server, digest))
    since = len(server.log())
    url = f"/v2/{repo}/blobs/{digest}"

    head = client.head(url)
    assert_status(head, 404)
    assert_error(client.get(url), 404, "BLOB_UNKNOWN")
    assert_error(client.get(url, headers={"Range": "bytes=0-99"}), 404, "BLOB_UNKNOWN")
    assert_error(client.get(url, headers={"Range": "bytes=10-"}), 404, "BLOB_UNKNOWN")

    log = server.log()[since:]
    errors = [line for line in log.splitlines() if "ERROR" in line and digest in line]
    assert errors, f"no ERROR line naming {digest}:\n{log}"
    assert "Traceback" not in log, log


def _push_monolithic(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    return client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": sha256(data)},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def _push_post_put(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    started = start_upload(client, repo)
    return client.put(with_query(location(started), [("digest", sha256(data))]), content=data)


def _push_chunked(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    started = start_upload(client, repo)
    half = len(data) // 2
    resp = client.patch(
        location(started), content=data[:half], headers={"Content-Range": f"0-{half - 1}"}
    )
    assert_status(resp, 202)
    resp = client.patch(
        location(resp),
        content=data[half:],
        headers={"Content-Range": f"{half}-{len(data) - 1}"},
    )
    assert_status(resp, 202)
    return client.put(with_query(location(resp), [("digest", sha256(data))]))


PUSHES: dict[str, Callable[[httpx.Client, str, bytes], httpx.Response]] = {
    "monolithic": _push_monolithic,
    "post-put": _push_post_put,
    "chunked": _push_chunked,
}


@pytest.mark.parametrize("push", sorted(PUSHES))
@pytest.mark.parametrize("damage", ["missing", "short", "corrupt"])
def test_pushing_the_same_bytes_repairs_the_file(
    client: httpx.Client, server: ServerProcess, repo: str, push: str, damage: str
) -> None:
    data = random_bytes(10_000)
    digest = upload_blob(client, repo, data)
    path = blob_path(server, digest)
    {"corrupt": _corrupt, **DAMAGE}[damage](path)

    # Pushed again, into the same repository and into another one.
    resp = PUSHES[push](client, repo, data)
    assert_status(resp, 201)
    assert path.read_bytes() == data
    for ranged in (None, "bytes=100-199"):
        headers = {"Range": ranged} if ranged else {}
        resp = client.get(f"/v2/{repo}/blobs/{digest}", headers=headers)
        assert_status(resp, 206 if ranged else 200)
        assert resp.content == (data[100:200] if ranged else data), describe(resp)
    assert_status(client.head(f"/v2/{repo}/blobs/{digest}"), 200)


def test_a_damaged_blob_is_not_mounted(
    client: httpx.Client, server: ServerProcess, repo: str
) -> None:
    data = random_bytes(2048)
    digest = upload_blob(client, repo, data)
    blob_path(server, digest).unlink()
    target = repo + "-mount"
    for params in ({"mount": digest, "from": repo}, {"mount": digest}):
        resp = client.post(f"/v2/{target}/blobs/uploads/", params=params)
        # Not "201 mounted": the client is asked to upload, which brings the bytes back.
        assert_status(resp, 202)
    resp = client.put(with_query(location(resp), [("digest", digest)]), content=data)
    assert_status(resp, 201)
    resp = client.get(f"/v2/{target}/blobs/{digest}")
    assert_status(resp, 200)
    assert resp.content == data


def test_manifest_referencing_a_missing_blob_file_is_refused(
    client: httpx.Client, server: ServerProcess, repo: str
) -> None:
    manifest = image_manifest(client, repo)
    layer = manifest.blobs[-1]
    blob_path(server, layer).unlink()
    resp = put_manifest(client, repo, "v1", manifest.body, OCI_MANIFEST)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")


def test_check_reports_a_missing_and_a_short_blob(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = server_factory()
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        gone = upload_blob(http, "faults/check", random_bytes(1000))
        short = upload_blob(http, "faults/check", random_bytes(1000))
    blob_path(srv, gone).unlink()
    _truncate(blob_path(srv, short))
    result = srv.dockyard("check")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert gone in output, output
    assert short in output, output


def test_upload_bytes_deleted_behind_the_server_are_an_unknown_upload(
    client: httpx.Client, server: ServerProcess, repo: str
) -> None:
    started = start_upload(client, repo)
    resp = client.patch(location(started), content=b"0123456789", headers={"Content-Range": "0-9"})
    assert_status(resp, 202)
    upload_id = resp.headers["docker-upload-uuid"]
    (server.data_dir / "storage" / "uploads" / upload_id).unlink()
    resp = client.patch(location(resp), content=b"abcdef", headers={"Content-Range": "10-15"})
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN")
    # The client starts over, and that works.
    data = random_bytes(100)
    started = start_upload(client, repo)
    resp = client.put(with_query(location(started), [("digest", sha256(data))]), content=data)
    assert_status(resp, 201)
