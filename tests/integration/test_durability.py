"""Crash safety, restarts, concurrent pushes and several server processes on one data dir."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProcess

LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(http: httpx.Client, repo: str, data: bytes) -> str:
    digest = sha256(data)
    resp = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert resp.status_code == 201, resp.text
    return digest


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": LAYER, "digest": sha256(layer), "size": len(layer)}
                for layer in layers
            ],
        }
    ).encode()


def push_image(http: httpx.Client, repo: str, tag: str, layers: list[bytes]) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    for blob in [config, *layers]:
        if http.head(f"/v2/{repo}/blobs/{sha256(blob)}").status_code != 200:
            push_blob(http, repo, blob)
    body = image_manifest(config, layers)
    resp = http.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": MANIFEST})
    assert resp.status_code == 201, resp.text
    return resp.headers["Docker-Content-Digest"]


def pull_image(http: httpx.Client, repo: str, tag: str) -> list[bytes]:
    resp = http.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
    assert resp.status_code == 200, resp.text
    manifest = resp.json()
    blobs = []
    for desc in [manifest["config"], *manifest["layers"]]:
        blob = http.get(f"/v2/{repo}/blobs/{desc['digest']}")
        assert blob.status_code == 200, blob.text
        assert sha256(blob.content) == desc["digest"]
        blobs.append(blob.content)
    return blobs


def assert_consistent(server: ServerProcess) -> None:
    result = server.dockyard("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_upload_session_survives_restart_and_moves_between_workers(
    server_factory: type[ServerProcess],
) -> None:
    server = server_factory(workers=2)
    data = os.urandom(3 * 1024 * 1024 + 17)
    parts = [data[i : i + 256 * 1024] for i in range(0, len(data), 256 * 1024)]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        start = http.post("/v2/durable/upload/blobs/uploads/")
        assert start.status_code == 202
        location = start.headers["Location"]
        offset = 0
        for index, part in enumerate(parts):
            if index == len(parts) // 2:
                server.restart()
            # A new connection each time lets either worker process take the chunk.
            with httpx.Client(base_url=server.url, timeout=60) as fresh:
                resp = fresh.patch(
                    location,
                    content=part,
                    headers={"Content-Range": f"{offset}-{offset + len(part) - 1}"},
                )
            assert resp.status_code == 202, resp.text
            offset += len(part)
            assert resp.headers["Range"] == f"0-{offset - 1}"
        done = http.put(location, params={"digest": sha256(data)})
        assert done.status_code == 201, done.text
        # Digests rather than bytes keep a failure's report short.
        assert sha256(http.get(f"/v2/durable/upload/blobs/{sha256(data)}").content) == sha256(data)
    assert_consistent(server)


def _slow_body(total: int, stop_after: int, killed: threading.Event) -> Iterator[bytes]:
    sent = 0
    block = os.urandom(64 * 1024)
    while sent < total:
        yield block
        sent += len(block)
        if sent >= stop_after:
            killed.wait(30)  # the server is killed while it waits for the rest


def test_kill_9_during_upload_leaves_nothing_visible(server_factory: type[ServerProcess]) -> None:
    server = server_factory(
        workers=1, env={"DOCKYARD_GC_GRACE_SECONDS": "0", "DOCKYARD_UPLOAD_TTL_SECONDS": "0"}
    )
    fake_digest = sha256(b"the body that never finished")
    errors: list[BaseException] = []
    killed = threading.Event()

    def upload() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                http.post(
                    "/v2/crash/upload/blobs/uploads/",
                    params={"digest": fake_digest},
                    content=_slow_body(8 * 1024 * 1024, 4 * 1024 * 1024, killed),
                )
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    uploads_dir = server.data_dir / "storage" / "uploads"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in uploads_dir.glob("*")] if uploads_dir.exists() else []
        if sizes and max(sizes) >= 2 * 1024 * 1024:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the upload never reached storage")
    server.kill9()
    killed.set()
    thread.join(timeout=40)
    server.start()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.head(f"/v2/crash/upload/blobs/{fake_digest}").status_code == 404
    assert not list((server.data_dir / "storage").glob("blobs/**/*.*"))
    assert_consistent(server)
    result = server.dockyard("gc")
    assert result.returncode == 0, result.stderr
    assert not [p for p in uploads_dir.glob("*") if p.is_file()], "partial upload left behind"


def test_kill_9_during_manifest_pushes_keeps_metadata_consistent(
    server_factory: type[ServerProcess],
) -> None:
    server = server_factory(workers=2)
    pushed: list[tuple[str, str]] = []
    stop = threading.Event()

    def pusher(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for n in range(1000):
                if stop.is_set():
                    return
                tag = f"w{worker}-{n}"
                try:
                    digest = push_image(http, "crash/manifests", tag, [os.urandom(2048), b"shared"])
                except (httpx.HTTPError, AssertionError):
                    return
                pushed.append((tag, digest))

    threads = [threading.Thread(target=pusher, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    while len(pushed) < 20:
        time.sleep(0.01)
    server.kill9()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    server.start()
    assert_consistent(server)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for tag, digest in pushed:
            resp = http.get(f"/v2/crash/manifests/manifests/{tag}", headers={"Accept": MANIFEST})
            assert resp.status_code == 200, f"acknowledged push {tag} was lost"
            assert resp.headers["Docker-Content-Digest"] == digest
            pull_image(http, "crash/manifests", tag)


def test_two_clients_push_the_same_image_at_once(server: ServerProcess) -> None:
    layers = [os.urandom(512 * 1024) for _ in range(3)]
    results: list[str] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(4)

    def push() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                barrier.wait()
                # Both upload every blob, even when the other one already did.
                config = json.dumps({"architecture": "amd64", "os": "linux", "tag": "same"})
                for blob in [config.encode(), *layers]:
                    push_blob(http, "same/image", blob)
                body = image_manifest(config.encode(), layers)
                resp = http.put(
                    "/v2/same/image/manifests/latest",
                    content=body,
                    headers={"Content-Type": MANIFEST},
                )
                assert resp.status_code == 201, resp.text
                results.append(resp.headers["Docker-Content-Digest"])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert len(set(results)) == 1
    assert len(results) == 4
    with httpx.Client(base_url=server.url, timeout=60) as http:
        pulled = pull_image(http, "same/image", "latest")[1:]
        assert [sha256(blob) for blob in pulled] == [sha256(blob) for blob in layers]
    assert_consistent(server)
