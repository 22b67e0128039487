"""Task runs over HTTP: build-source uploads and their checks, run ids, listing, showing,
cancelling a queued run, and a worker killed mid-run (the run ends Error, never stays
Running)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.helpers import RegistryHTTP, busybox_rootfs_tar, make_image
from tests.integration.auth_helpers import AuthServer, start_auth_server
from tests.integration.egress_helpers import Fence
from tests.integration.helpers import assert_error, describe
from tests.integration.task_helpers import (
    context_tar,
    create_run,
    get_run,
    log_text,
    upload_source,
    wait_for_log,
    wait_for_processes,
    wait_for_run,
    wait_until_gone,
)

MAX_SOURCE = 64 * 1024


@pytest.fixture(scope="module")
def queue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose runs stay queued (no worker claims them), with a small source limit."""
    server = ServerProcess(
        tmp_path_factory.mktemp("tasks-queue"),
        env={
            "DOCKYARD_TASKS_ENABLED": "false",
            "DOCKYARD_TASK_MAX_SOURCE_BYTES": str(MAX_SOURCE),
        },
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(queue_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=queue_server.url, timeout=60) as client:
        yield client


# --- build sources ------------------------------------------------------------------------------


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, linkname: str = ""
) -> tuple[tarfile.TarInfo, None]:
    """A member without data: a link, a device or a FIFO."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info, None


def _file(name: str, data: bytes = b"x\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def test_valid_source_is_stored_content_addressed(http: httpx.Client) -> None:
    archive = context_tar({"Dockerfile": "FROM scratch\n", "app/main.txt": "hello\n"})
    resp = http.post("/api/v1/runs/sources", content=archive)
    assert resp.status_code == 201, describe(resp)
    body = resp.json()
    assert body == {"source": "sha256:" + hashlib.sha256(archive).hexdigest(), "size": len(archive)}
    # The same bytes again: the same source; a plain (not gzipped) tar is accepted too.
    assert upload_source(http, archive) == body["source"]
    plain = context_tar({"Dockerfile": "FROM scratch\n"}, gz=False)
    assert upload_source(http, plain) == "sha256:" + hashlib.sha256(plain).hexdigest()


@pytest.mark.parametrize(
    ("archive", "offender", "reason"),
    [
        (_tar(_file("ok.txt"), _file("../x")), "../x", "'..'"),
        (_tar(_file("sub/../../x")), "sub/../../x", "'..'"),
        (_tar(_file("/etc/x")), "/etc/x", "absolute"),
        (
            _tar(_member("passwd", tarfile.SYMTYPE, "/etc/passwd")),
            "passwd",
            "outside the build context",
        ),
        (
            _tar(_member("sub/up", tarfile.SYMTYPE, "../../secret")),
            "sub/up",
            "outside the build context",
        ),
        (
            _tar(_file("a.txt"), _member("hard", tarfile.LNKTYPE, "../../etc/passwd")),
            "hard",
            "outside the build context",
        ),
        (
            _tar(_member("hard", tarfile.LNKTYPE, "etc/passwd")),
            "hard",
            "not earlier in the build context",
        ),
        (_tar(_member("dev/sda", tarfile.BLKTYPE)), "dev/sda", "device"),
        (_tar(_member("null", tarfile.CHRTYPE)), "null", "device"),
        (_tar(_member("pipe", tarfile.FIFOTYPE)), "pipe", "FIFO"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "symlink-to-etc-passwd",
        "symlink-up",
        "hardlink-out",
        "hardlink-to-missing",
        "block-device",
        "char-device",
        "fifo",
    ],
)
def test_malicious_sources_are_refused_naming_the_member(
    http: httpx.Client, archive: bytes, offender: str, reason: str
) -> None:
    for body in (archive, gzip.compress(archive)):
        resp = http.post("/api/v1/runs/sources", content=body)
        errors = assert_error(resp, 400, "UNSUPPORTED")
        message = errors[0]["message"]
        assert repr(offender) in message, f"the message does not name {offender!r}: {message}"
        assert reason in message, message


def test_not_a_tar_is_refused(http: httpx.Client) -> None:
    for body, what in (
        (b"this is not an archive" * 100, "not a tar archive"),
        (b"", "not a tar archive"),
        (gzip.compress(b"plain text, gzipped" * 100), "not a tar archive"),
        (b"\x1f\x8b\x08\x00garbage-after-the-gzip-magic", "gzip"),
    ):
        resp = http.post("/api/v1/runs/sources", content=body)
        errors = assert_error(resp, 400, "UNSUPPORTED")
        assert what in errors[0]["message"], errors[0]["message"]


def test_oversize_sources_are_refused(http: httpx.Client, queue_server: ServerProcess) -> None:
    # Packed: larger than the limit as sent (with and without a Content-Length).
    big = context_tar({"big.bin": bytes(range(256)) * (MAX_SOURCE // 128)}, gz=False)
    assert len(big) > MAX_SOURCE
    assert_error(http.post("/api/v1/runs/sources", content=big), 413, "SIZE_INVALID")
    chunks = (big[i : i + 8192] for i in range(0, len(big), 8192))
    assert_error(http.post("/api/v1/runs/sources", content=chunks), 413, "SIZE_INVALID")
    # Unpacked: a small gzip that expands past the limit.
    bomb = context_tar({"zeros.bin": bytes(MAX_SOURCE * 4)})
    assert len(bomb) < MAX_SOURCE
    errors = assert_error(http.post("/api/v1/runs/sources", content=bomb), 413, "SIZE_INVALID")
    assert "unpacks" in errors[0]["message"]
    # Nothing of the refused uploads is kept.
    uploads = queue_server.data_dir / "storage" / "task-sources" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


# --- runs ---------------------------------------------------------------------------------------


def test_run_ids_show_list_and_cancel_a_queued_run(http: httpx.Client) -> None:
    source = upload_source(http, context_tar({"Dockerfile": "FROM base/busybox:1\n"}))
    before = http.get("/api/v1/runs", params={"top": 1000}).json()
    created = [
        create_run(
            http,
            source=source,
            images=["hello:{{.Run.ID}}", "hello:latest"],
            build_args={"A": "1"},
            timeout=600,
        )
        for _ in range(3)
    ]
    ids = [run["run_id"] for run in created]
    numbers = [int(run_id[2:]) for run_id in ids]
    assert all(run_id[:2] == "ca" for run_id in ids), ids
    assert numbers == sorted(numbers), ids
    assert len(set(numbers)) == 3, ids
    first = created[0]
    assert first["status"] == "Queued"
    assert first["kind"] == "build"
    assert first["trigger"] == "manual"
    assert first["images"] == [f"hello:{ids[0]}", "hello:latest"]
    assert first["engine"] == "buildah"
    assert first["timeout"] == 600
    assert first["output_images"] == []
    assert first["base_images"] == []
    for unset in ("started_at", "finished_at", "duration_seconds", "error", "worker"):
        assert first[unset] is None, unset
    assert first["created_at"].endswith("Z")

    shown = get_run(http, ids[1])
    assert shown["run_id"] == ids[1]
    assert shown["status"] == "Queued"

    listed = http.get("/api/v1/runs", params={"top": 1000}).json()
    assert [r["run_id"] for r in listed[:3]] == ids[::-1], "newest first"
    assert len(listed) == len(before) + 3
    assert [r["run_id"] for r in http.get("/api/v1/runs", params={"top": 2}).json()] == [
        ids[2],
        ids[1],
    ]

    canceled = http.post(f"/api/v1/runs/{ids[0]}/cancel")
    assert canceled.status_code == 200, describe(canceled)
    assert canceled.json()["status"] == "Canceled"
    assert canceled.json()["finished_at"] is not None
    assert get_run(http, ids[0])["status"] == "Canceled"
    again = http.post(f"/api/v1/runs/{ids[0]}/cancel")
    assert_error(again, 409, "CONFLICT")
    assert "finished" in again.json()["errors"][0]["message"]

    queued = http.get("/api/v1/runs", params={"status": "Queued", "top": 1000}).json()
    assert ids[0] not in [r["run_id"] for r in queued]
    assert {ids[1], ids[2]} <= {r["run_id"] for r in queued}
    canceled_only = http.get("/api/v1/runs", params={"status": "Canceled"}).json()
    assert ids[0] in [r["run_id"] for r in canceled_only]
    assert all(r["status"] == "Canceled" for r in canceled_only)

    # A queued run has an empty log; following it would wait, so read it plainly.
    logs = http.get(f"/api/v1/runs/{ids[1]}/logs")
    assert logs.status_code == 200, describe(logs)
    assert logs.text == ""
    assert logs.headers["content-type"].startswith("text/plain")
    # An offset past any log reads nothing; one no database integer holds is refused.
    past = http.get(f"/api/v1/runs/{ids[1]}/logs", params={"offset": 2**40})
    assert past.status_code == 200, describe(past)
    assert past.text == ""
    for offset in (2**63, 10**30, -1):
        refused = http.get(f"/api/v1/runs/{ids[1]}/logs", params={"offset": offset})
        assert_error(refused, 400, "UNSUPPORTED")


def test_concurrent_runs_get_distinct_ordered_ids(
    http: httpx.Client, queue_server: ServerProcess
) -> None:
    source = upload_source(http, context_tar({"Dockerfile": "FROM scratch\n"}))

    def schedule(_: int) -> str:
        with httpx.Client(base_url=queue_server.url, timeout=60) as client:
            run_id: str = create_run(client, source=source, images=["c:{{.Run.ID}}"])["run_id"]
            return run_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(schedule, range(24)))
    assert len(set(ids)) == 24, ids
    listed = [r["run_id"] for r in http.get("/api/v1/runs", params={"top": 24}).json()]
    assert sorted(listed) == sorted(ids), "the 24 newest runs are these"
    assert [int(i[2:]) for i in listed] == sorted((int(i[2:]) for i in ids), reverse=True)
    for run_id in ids:
        assert get_run(http, run_id)["images"] == [f"c:{run_id}"]


def test_unknown_runs_and_invalid_requests(http: httpx.Client) -> None:
    for resp in (
        http.get("/api/v1/runs/ca999999"),
        http.post("/api/v1/runs/ca999999/cancel"),
        http.get("/api/v1/runs/ca999999/logs"),
    ):
        errors = assert_error(resp, 404, "NOT_FOUND")
        assert errors[0]["message"] == "run ca999999 not found"
    assert_error(http.get("/api/v1/runs", params={"status": "Sleeping"}), 400, "UNSUPPORTED")

    source = upload_source(http, context_tar({"Dockerfile": "FROM scratch\n"}))
    unknown_source = "sha256:" + "0" * 64
    for body, words in (
        ({"images": ["a:1"]}, "exactly one of source and context_url"),
        ({"source": source, "context_url": "https://example.com/x.tgz"}, "exactly one"),
        ({"source": unknown_source}, "not uploaded"),
        ({"source": source, "timeout": 10}, "timeout must be between"),
        ({"source": source, "timeout": 30000}, "timeout"),
        ({"source": source, "images": ["Bad/Name:1"]}, "not repository[:tag]"),
        ({"source": source, "images": ["ok:bad tag"]}, "not repository[:tag]"),
        ({"source": source, "dockerfile": "../Dockerfile"}, "must be a path in the context"),
        ({"kind": "cmd"}, "needs cmd"),
        ({"kind": "cmd", "cmd": "img 'unclosed"}, "cmd"),
        ({"kind": "paint", "source": source}, "kind"),
        ({"context_url": "ftp://example.com/x.tgz"}, "only http, https and git"),
        ({"source": source, "engine": "kaniko"}, "unknown engine"),
        ({"source": source, "surprise": True}, "surprise"),
    ):
        resp = http.post("/api/v1/runs", json=body)
        errors = assert_error(resp, 400, "UNSUPPORTED")
        assert words in errors[0]["message"], f"{body}: {errors[0]['message']}"


def test_runs_need_rights(tmp_path: Path) -> None:
    srv: AuthServer = start_auth_server(tmp_path / "auth", DOCKYARD_TASKS_ENABLED="false")
    try:
        reader, reader_password = srv.user("Reader")
        with httpx.Client(base_url=srv.url, timeout=60) as anon:
            assert_error(anon.get("/api/v1/runs"), 401, "UNAUTHORIZED")
            assert_error(anon.post("/api/v1/runs/sources", content=b"x"), 401, "UNAUTHORIZED")
        with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
            source = upload_source(owner, context_tar({"Dockerfile": "FROM scratch\n"}))
            run = create_run(owner, source=source, images=["team/app:{{.Run.ID}}"])
        with httpx.Client(
            base_url=srv.url, timeout=60, auth=(reader, reader_password)
        ) as as_reader:
            assert get_run(as_reader, run["run_id"])["status"] == "Queued"
            assert_error(as_reader.post("/api/v1/runs", json={"source": source}), 403, "DENIED")
            assert_error(as_reader.post(f"/api/v1/runs/{run['run_id']}/cancel"), 403, "DENIED")
            upload = as_reader.post("/api/v1/runs/sources", content=b"x")
            assert_error(upload, 403, "DENIED")
        events = [e for e in srv.audit() if e.get("event") == "run.create"]
        assert events, srv.audit()
        assert events[-1]["actor"] == "user:owner", events
        assert events[-1]["run_id"] == run["run_id"]
    finally:
        srv.close()


# --- a worker killed mid-run --------------------------------------------------------------------


def test_worker_killed_mid_run_ends_error(tmp_path: Path) -> None:
    """`dockyard serve` runs a long build; kill -9; after a restart the run ends Error once
    its lease has run out, and the build's processes are ended."""
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (scripts/test.sh installs it)", pytrace=False)
    server = ServerProcess(tmp_path / "worker-crash", env={"DOCKYARD_TASK_LEASE_SECONDS": "3"})
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            RegistryHTTP(http).push_image("base/busybox", "1", make_image([busybox_rootfs_tar()]))
            # Unique: the PostgreSQL pass runs this test beside the SQLite one.
            marker = f"sleep {random.randrange(10_000, 1_000_000)}"
            source = upload_source(
                http,
                context_tar(
                    {"Dockerfile": f"FROM base/busybox:1\nRUN echo long-step-$((6*7)); {marker}\n"}
                ),
            )
            run_id = create_run(http, source=source, images=["crash/app:1"])["run_id"]
            wait_for_log(http, run_id, "long-step-42", timeout=120)
            assert get_run(http, run_id)["status"] == "Running"
            assert wait_for_processes(marker), "the build's RUN step is not running"

            server.kill9()
            killed_at = time.monotonic()
            server.start()
            run = wait_for_run(http, run_id, timeout=60)
            assert run["status"] == "Error", run
            assert "worker lost" in run["error"], run
            assert run["finished_at"] is not None
            assert time.monotonic() - killed_at < 60
            assert "was lost" in log_text(http, run_id)
            # The restarted worker ends what the lost one left running, and removes its files.
            wait_until_gone(marker, timeout=30)
            wait_until_gone("buildah", f"{server.data_dir}/tasks/{run_id}/", timeout=30)
            deadline = time.monotonic() + 30
            while (server.data_dir / "tasks" / run_id).exists() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert not (server.data_dir / "tasks" / run_id).exists()
    finally:
        server.stop()


def test_context_urls_on_private_addresses_end_error(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """Unless task_allow_private_sources, a worker fetches contexts from public addresses
    only: a URL on loopback (or a redirect to it) makes the run end Error."""
    server = server_factory()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for url in ("http://127.0.0.1:9/context.tar.gz", "http://localhost:9/repo.git#main"):
            run = create_run(http, context_url=url, images=["private/app:1"])
            run = wait_for_run(http, run["run_id"], timeout=60)
            assert run["status"] == "Error", run
            assert "non-public address" in run["error"], run
            assert "task_allow_private_sources" in log_text(http, run["run_id"])


def test_context_urls_on_addresses_that_are_not_public_end_error_before_connecting(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Shared (carrier NAT) space with a cloud's metadata service and the IPv6 forms of
    private addresses, for tarballs and git clones: the run ends Error and nothing is
    connected to (the fence would record it; git is handed only checked addresses)."""
    fence = Fence(tmp_path, {"metadata.test": [["100.100.100.200"]]})
    server = server_factory(env=fence.env())
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for url in (
            "http://100.100.100.200/context.tar.gz",
            "http://[64:ff9b::a00:1]/context.tar.gz",  # NAT64 of 10.0.0.1
            "http://[2002:c0a8:101::1]/context.tar.gz",  # 6to4 of 192.168.1.1
            "http://metadata.test/context.tar.gz",
            "http://metadata.test/repo.git#main",
            "git://metadata.test/repo.git#main",
        ):
            run = create_run(http, context_url=url, images=["private/app:1"])
            run = wait_for_run(http, run["run_id"], timeout=60)
            assert run["status"] == "Error", (url, run)
            assert "non-public address" in run["error"], (url, run)
            assert "task_allow_private_sources" in log_text(http, run["run_id"]), url
    assert fence.connects() == []


def test_dockyard_worker_does_runs_for_a_server_that_does_none(
    queue_server: ServerProcess, http: httpx.Client
) -> None:
    """An extra machine's `dockyard worker` (same database and storage) takes the runs of a
    server whose own processes do none."""
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (scripts/test.sh installs it)", pytrace=False)
    RegistryHTTP(http).push_image("base/busybox", "1", make_image([busybox_rootfs_tar()]))
    env = {**os.environ, "DOCKYARD_AUTH_ENABLED": "false"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dockyard",
            "worker",
            "--data-dir",
            str(queue_server.data_dir),
            "--db",
            queue_server.database_url,
            "--registry-url",
            queue_server.url,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        run = create_run(http, kind="cmd", cmd="base/busybox:1 echo done-by-the-worker")
        run = wait_for_run(http, run["run_id"], timeout=120)
        assert run["status"] == "Succeeded", log_text(http, run["run_id"])
        assert "done-by-the-worker" in log_text(http, run["run_id"])
        assert run["worker"], run
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert f"task worker {run['worker']}" in output, output
