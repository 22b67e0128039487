"""`dockyard worker --jobs ...`: background jobs in a process of their own, beside a server
that does not run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import ServerProcess
from tests.integration.test_durability import assert_consistent, push_image, sha256
from tests.integration.test_gc import stored_blob_files

# The server never collects: gc is off, and would otherwise run every 0.2 s with no grace.
NO_GC = {
    "DOCKYARD_GC_ENABLED": "false",
    "DOCKYARD_GC_INTERVAL_SECONDS": "0.2",
    "DOCKYARD_GC_GRACE_SECONDS": "0",
}


def start_worker(server: ServerProcess, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(server.extra_env)
    env["DOCKYARD_DATA_DIR"] = str(server.data_dir)
    env["DOCKYARD_DB"] = server.database_url
    return subprocess.Popen(
        [sys.executable, "-m", "dockyard", "worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_worker_jobs_gc_collects_for_a_server_that_does_not(
    server_factory: type[ServerProcess],
) -> None:
    """GC named with --jobs runs in the worker even though gc_enabled is off (which keeps it
    out of the server, and of a worker without --jobs); the worker stops on SIGTERM."""
    server = server_factory(workers=1, env=NO_GC)
    kept_layer, dropped_layer = os.urandom(1000), os.urandom(3000)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        push_image(http, "jobs/app", "keep", [kept_layer])
        dropped = push_image(http, "jobs/app", "drop", [dropped_layer])
        assert http.delete(f"/v2/jobs/app/manifests/{dropped}").status_code == 202
    time.sleep(1.5)  # several of the server's would-be GC intervals
    assert sha256(dropped_layer) in stored_blob_files(server), "the server collected"

    worker = start_worker(server, "--jobs", "gc")
    try:
        deadline = time.monotonic() + 60
        while sha256(dropped_layer) in stored_blob_files(server):
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the worker did not collect the garbage"
            time.sleep(0.2)
        assert sha256(kept_layer) in stored_blob_files(server)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        stopped_at = time.monotonic()
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert time.monotonic() - stopped_at < 10, "the worker was slow to stop"
    assert ": gc\n" in output, output  # the jobs it runs: gc alone
    assert "Traceback" not in output, output
    assert_consistent(server)

    # The jobs, and whether a worker without --jobs (or serve) runs them.
    listed = server.dockyard("worker", "--jobs", "list")  # or --list-jobs
    assert listed.returncode == 0, listed.stderr
    rows = {
        cells[0]: cells
        for line in listed.stdout.splitlines()
        if len(cells := [cell.strip() for cell in line.strip("│|").split("│")]) == 5
    }
    for name in ("gc", "cleanup", "webhooks", "timers", "commit-poll", "run-sweep", "runs"):
        assert name in rows, listed.stdout
    assert rows["gc"][2:4] == ["gc (0.16 s)", "no"], rows["gc"]  # gc_enabled is off
    assert rows["runs"][2:4] == ["-", "yes"], rows["runs"]

    unknown = server.dockyard("worker", "--jobs", "gc,nope")
    assert unknown.returncode == 2
    assert "no job named nope" in unknown.stderr, unknown.stderr
