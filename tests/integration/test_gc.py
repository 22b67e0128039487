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
    assert sha256(dropped_layer) in dry.stdout and loose_digest in dry.stdout
    assert sha256(kept_layer) not in dry.stdout
    assert "would free" in dry.stdout
    assert sha256(dropped_layer) in stored_blob_files(server), "dry run must not delete"

    young = server.dockyard("gc")  # default grace period: everything is still young
    assert young.returncode == 0 and sha256(dropped_layer) in stored_blob_files(server)

    real = server.dockyard("gc", "--grace-seconds", "0")
    assert real.returncode == 0, real.stderr
    files = stored_blob_files(server)
    assert sha256(dropped_layer) not in files and loose_digest not in files
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
    """GC runs every 0.1 s with a 1 s grace period while a client re-uses blobs that have
    just become garbage: every push must succeed and every pushed image must pull whole."""
    server = server_factory(
        workers=2,
        env={"DOCKYARD_GC_INTERVAL_SECONDS": "0.1", "DOCKYARD_GC_GRACE_SECONDS": "1"},
    )
    shared = [os.urandom(4096) for _ in range(4)]
    failures: list[str] = []
    pushes = 0
    deadline = time.monotonic() + 12

    def client_loop(worker: int) -> None:
        nonlocal pushes
        with httpx.Client(base_url=server.url, timeout=30) as http:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                tag = f"w{worker}-{n}"
                layers = [shared[(n + worker) % len(shared)], os.urandom(1024)]
                try:
                    digest = push_image(http, "gc/race", tag, layers)
                    pull_image(http, "gc/race", tag)
                except AssertionError as exc:
                    failures.append(f"{tag}: {exc}")
                    return
                pushes += 1
                # Deleting makes the shared layer garbage again until the next push uses it.
                http.delete(f"/v2/gc/race/manifests/{digest}")
                time.sleep(0.3 + 0.4 * (n % 3))

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert pushes > 20
    time.sleep(2)  # past the grace period: the deleted images' unique layers are collected
    remaining = stored_blob_files(server)
    assert len(remaining) < pushes, "GC did not collect anything while the test ran"
    assert_consistent(server)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        final = push_image(http, "gc/race", "final", shared)
        assert http.get(f"/v2/gc/race/manifests/{final}", headers={"Accept": MANIFEST}).status_code == 200
        pull_image(http, "gc/race", "final")
