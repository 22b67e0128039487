"""Online garbage collection: what goes, what stays, and no race with pushes."""

from __future__ import annotations

import os
import threading
import time

import httpx

from tests.conftest import ServerProcess
from tests.integration.test_durability import (
    MANIFEST,
    assert_consistent,
    image_manifest,
    pull_image,
    push_blob,
    push_image,
    sha256,
)


def stored_blob_files(server: ServerProcess) -> set[str]:
    root = server.data_dir / "storage" / "blobs"
    return {f"{p.parent.parent.name}:{p.name}" for p in root.glob("*/*/*") if p.is_file()}


def test_gc_dry_run_then_collect(server_factory: type[ServerProcess]) -> None:
    server = server_factory(workers=1, env={"DOCKYARD_GC_ENABLED": "false"})
    kept_layer, dropped_layer, loose = os.urandom(1000), os.urandom(3000), os.urandom(5000)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        push_image(http, "gc/app", "keep", [kept_layer])
        dropped = push_image(http, "gc/app", "drop", [dropped_layer])
        loose_digest = push_blob(http, "gc/other", loose)
        abandoned = http.post("/v2/gc/app/blobs/uploads/")
        assert abandoned.status_code == 202
        assert http.delete(f"/v2/gc/app/manifests/{dropped}").status_code == 202

    dry = server.dockyard("gc", "--dry-run", "--grace-seconds", "0")
    assert dry.returncode == 0, dry.stderr
    assert sha256(dropped_layer) in dry.stdout
    assert loose_digest in dry.stdout
    assert sha256(kept_layer) not in dry.stdout
    assert "would free" in dry.stdout
    assert sha256(dropped_layer) in stored_blob_files(server), "dry run must not delete"

    young = server.dockyard("gc")  # default grace period: everything is still young
    assert young.returncode == 0
    assert sha256(dropped_layer) in stored_blob_files(server)

    real = server.dockyard("gc", "--grace-seconds", "0")
    assert real.returncode == 0, real.stderr
    files = stored_blob_files(server)
    assert sha256(dropped_layer) not in files
    assert loose_digest not in files
    assert sha256(kept_layer) in files
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.head(f"/v2/gc/other/blobs/{loose_digest}").status_code == 404
        assert pull_image(http, "gc/app", "keep")[1] == kept_layer
    assert_consistent(server)


def test_gc_removes_untagged_manifests_when_configured(server_factory: type[ServerProcess]) -> None:
    server = server_factory(
        workers=1, env={"DOCKYARD_GC_ENABLED": "false", "DOCKYARD_GC_DELETE_UNTAGGED": "true"}
    )
    layer = os.urandom(2000)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        first = push_image(http, "gc/untagged", "v1", [layer])
        push_image(http, "gc/untagged", "v1", [os.urandom(10)])  # v1 moves; first is untagged
        result = server.dockyard("gc", "--grace-seconds", "0")
        assert result.returncode == 0, result.stderr
        assert http.get(f"/v2/gc/untagged/manifests/{first}").status_code == 404
        assert sha256(layer) not in stored_blob_files(server)
        pull_image(http, "gc/untagged", "v1")
    assert_consistent(server)


def test_gc_running_continuously_never_breaks_a_push_that_reuses_a_blob(
    server_factory: type[ServerProcess],
) -> None:
    """GC runs every 0.1 s with a 2 s grace period while clients re-use layers that keep
    becoming garbage. A client that saw a layer present (HEAD) and references it within the
    guaranteed window (3/4 of the grace period) must never be refused, and every pushed image
    must pull whole."""
    grace = 2.0
    server = server_factory(
        workers=2,
        env={"DOCKYARD_GC_INTERVAL_SECONDS": "0.1", "DOCKYARD_GC_GRACE_SECONDS": str(grace)},
    )
    shared = [os.urandom(4096) for _ in range(6)]
    failures: list[str] = []
    slow_pushes: list[float] = []
    reuploads = 0
    pushes = 0
    deadline = time.monotonic() + 15

    def push_reusing(http: httpx.Client, tag: str, layer: bytes) -> str:
        nonlocal reuploads
        head_at = time.monotonic()
        if http.head(f"/v2/gc/race/blobs/{sha256(layer)}").status_code != 200:
            reuploads += 1  # GC collected it since the last use: upload it again
            push_blob(http, "gc/race", layer)
            head_at = time.monotonic()
        unique, config = os.urandom(1024), f'{{"tag": "{tag}"}}'.encode()
        push_blob(http, "gc/race", unique)
        push_blob(http, "gc/race", config)
        body = image_manifest(config, [layer, unique])
        resp = http.put(
            f"/v2/gc/race/manifests/{tag}", content=body, headers={"Content-Type": MANIFEST}
        )
        elapsed = time.monotonic() - head_at
        if resp.status_code != 201:
            if elapsed > grace * 0.75:
                slow_pushes.append(elapsed)  # outside the window the grace period covers
                return ""
            failures.append(f"{tag}: {resp.status_code} {resp.text} after {elapsed:.2f}s")
            return ""
        return resp.headers["Docker-Content-Digest"]

    def client_loop(worker: int) -> None:
        nonlocal pushes
        with httpx.Client(base_url=server.url, timeout=30) as http:
            n = 0
            while time.monotonic() < deadline and not failures:
                n += 1
                tag = f"w{worker}-{n}"
                digest = push_reusing(http, tag, shared[(n * 3 + worker) % len(shared)])
                if not digest:
                    continue
                pull_image(http, "gc/race", tag)
                pushes += 1
                # Deleting makes the layers garbage again until a later push uses them.
                http.delete(f"/v2/gc/race/manifests/{digest}")
                time.sleep(0.2 + 0.5 * (n % 4))

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert len(slow_pushes) <= pushes // 10, f"the machine is too slow for this test: {slow_pushes}"
    assert pushes > 20
    assert reuploads > 0, "no layer was ever collected and re-used: the race was not exercised"
    time.sleep(grace + 1)  # past the grace period: every deleted image's blobs are collected
    assert len(stored_blob_files(server)) < 2 * pushes, "GC did not collect while the test ran"
    assert_consistent(server)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        final = push_image(http, "gc/race", "final", shared)
        got = http.get(f"/v2/gc/race/manifests/{final}", headers={"Accept": MANIFEST})
        assert got.status_code == 200
        pull_image(http, "gc/race", "final")
