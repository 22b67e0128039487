"""Disk full and read-only storage (issue #11, point 14), on a real small tmpfs: a push answers
507 (full) or 503 with Retry-After (read-only) in the OCI envelope, leaves no partial blob and
no blob without bytes, and the same push succeeds once space or writes are back, without a
restart. Needs root for mount(8); CI runs as root, so there a failed mount fails the test."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
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
    with_query,
)

TMPFS_SIZE = 8 * 1024 * 1024


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory on an 8 MiB tmpfs, unmounted afterwards whatever happens."""
    where = tmp_path_factory.mktemp("small-disk")
    try:
        _mount("-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(where))
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI") == "true" or os.geteuid() == 0:
            raise AssertionError(f"cannot mount a tmpfs: {exc}") from exc
        pytest.skip("mounting a tmpfs needs root (CI runs as root and does not skip)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


@pytest.fixture
def full_server(
    tmp_path_factory: pytest.TempPathFactory, small_disk: Path
) -> Iterator[ServerProcess]:
    """A server whose blob storage (data dir/storage) is the small tmpfs."""
    data_dir = tmp_path_factory.mktemp("dockyard-small")
    (data_dir / "storage").symlink_to(small_disk)
    srv = ServerProcess(data_dir, workers=1)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _fill(disk: Path, leave: int) -> Path:
    """Fill the disk but `leave` bytes (about: tmpfs counts pages)."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _monolithic(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    return client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data)


def _chunked(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    if started.status_code != 202:
        return started
    half = len(data) // 2
    resp = client.patch(
        location(started), content=data[:half], headers={"Content-Range": f"0-{half - 1}"}
    )
    if resp.status_code != 202:
        return resp
    resp = client.patch(
        location(resp), content=data[half:], headers={"Content-Range": f"{half}-{len(data) - 1}"}
    )
    if resp.status_code != 202:
        return resp
    return client.put(with_query(location(resp), [("digest", sha256(data))]))


def _assert_nothing_partial(server: ServerProcess, disk: Path, digest: str) -> None:
    uploads = _files(disk / "uploads")
    assert not [p for p in uploads if p.stat().st_size > 0], uploads
    assert not _files(disk / "blobs"), _files(disk / "blobs")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert_status(http.head(f"/v2/faults/full/blobs/{digest}"), 404)


def test_disk_full_is_507_and_recovers(full_server: ServerProcess, small_disk: Path) -> None:
    since = len(full_server.log())
    data = random_bytes(3 * 1024 * 1024)
    digest = sha256(data)
    filler = _fill(small_disk, leave=1024 * 1024)
    with httpx.Client(base_url=full_server.url, timeout=60) as client:
        for push in (_monolithic, _chunked):
            resp = push(client, "faults/full", data)
            errors = assert_error(resp, 507, "STORAGE_FULL")
            assert "full" in errors[0]["message"], describe(resp)
            _assert_nothing_partial(full_server, small_disk, digest)

        filler.unlink()  # space is back: the same pushes go through, no restart
        resp = _monolithic(client, "faults/full", data)
        assert_status(resp, 201)
        resp = _chunked(client, "faults/full", data[::-1])
        assert_status(resp, 201)
        resp = client.get(f"/v2/faults/full/blobs/{digest}")
        assert_status(resp, 200)
        assert resp.content == data
    log = full_server.log()[since:]
    assert "Traceback" not in log, log


def test_read_only_storage_is_503_and_recovers(
    full_server: ServerProcess, small_disk: Path
) -> None:
    since = len(full_server.log())
    data = random_bytes(64 * 1024)
    with httpx.Client(base_url=full_server.url, timeout=60) as client:
        manifest = image_manifest(client, "faults/ro")
        _mount("-o", "remount,ro", str(small_disk))
        try:
            for push in (_monolithic, _chunked):
                resp = push(client, "faults/ro", data)
                assert_error(resp, 503, "STORAGE_UNAVAILABLE")
                assert resp.headers.get("retry-after", "").isdigit(), describe(resp)
            # Reads and manifest pushes whose blobs are stored still work.
            assert_status(client.get(f"/v2/faults/ro/blobs/{manifest.blobs[0]}"), 200)
            resp = put_manifest(client, "faults/ro", "v1", manifest.body, OCI_MANIFEST)
            assert_status(resp, 201)
        finally:
            _mount("-o", "remount,rw", str(small_disk))
        assert_status(_monolithic(client, "faults/ro", data), 201)
        assert_status(_chunked(client, "faults/ro", data[::-1]), 201)
    log = full_server.log()[since:]
    assert "Traceback" not in log, log


def _fill_up(disk: Path) -> Path:
    """Fill the disk to the last byte."""
    filler = disk / "filler"
    with filler.open("wb") as handle:
        block = b"\0" * 65536
        try:
            while True:
                handle.write(block)
                handle.flush()
        except OSError:
            pass
    return filler


def test_database_on_a_full_disk_is_507_and_recovers(
    tmp_path_factory: pytest.TempPathFactory, small_disk: Path
) -> None:
    """The SQLite database and the blob storage on the small disk (on the PostgreSQL pass the
    database lives elsewhere and the blob bytes are what runs out)."""
    data_dir = tmp_path_factory.mktemp("dockyard-small-db")
    (data_dir / "storage").symlink_to(small_disk)
    srv = ServerProcess(data_dir, workers=1)
    if srv.database_url.startswith("sqlite"):
        srv.database_url = f"sqlite:///{small_disk}/dockyard.db"
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            manifests = [image_manifest(client, "faults/db") for _ in range(3)]
            filler = _fill_up(small_disk)
            refused = 0
            for manifest in manifests:
                resp = put_manifest(client, "faults/db", "v1", manifest.body, OCI_MANIFEST)
                if resp.status_code != 201:
                    assert_error(resp, 507, "STORAGE_FULL")
                    refused += 1
            resp = _monolithic(client, "faults/db", random_bytes(100_000))
            assert_error(resp, 507, "STORAGE_FULL")
            if srv.database_url.startswith("sqlite"):
                assert refused, "every manifest went into a full disk"
            filler.unlink()
            for manifest in manifests:
                resp = put_manifest(client, "faults/db", "v1", manifest.body, OCI_MANIFEST)
                assert_status(resp, 201)
            assert_status(_monolithic(client, "faults/db", random_bytes(100_000)), 201)
        log = srv.log()
        assert "Traceback" not in log, log
    finally:
        srv.stop()
