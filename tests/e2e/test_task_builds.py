"""Quick builds and runs done by Dockyard's own workers with buildah, driven through the HTTP
API (/api/v1/runs) of an auth-enabled server: the build pulls its base images from Dockyard
(unqualified `FROM base/...`) and pushes with a run-scoped credential of the requester."""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import RegistryHTTP, Tool, busybox_rootfs_tar, make_image, tar_members
from tests.integration.auth_helpers import AuthServer, start_auth_server
from tests.integration.helpers import describe
from tests.integration.task_helpers import (
    context_tar,
    create_run,
    get_run,
    log_text,
    processes_matching,
    upload_source,
    wait_for_log,
    wait_for_processes,
    wait_for_run,
)

pytestmark = pytest.mark.e2e

MULTI_STAGE = """\
ARG BASE_TAG=1
FROM base/busybox:${BASE_TAG} AS builder
ARG GREETING=hello
COPY msg.txt /msg.txt
RUN echo "building $GREETING"; for i in 1 2 3 4 5; do echo "tick $i"; sleep 1; done; \\
    echo "$GREETING $(cat /msg.txt) from base $(cat /etc/base-version)" > /greeting.txt
FROM base/busybox:1
COPY --from=builder /greeting.txt /greeting.txt
CMD ["cat", "/greeting.txt"]
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """An auth-enabled server whose workers build with buildah, with a short shortest
    timeout, and two busybox base images: base/busybox:1 and :2 (which differ)."""
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (scripts/test.sh installs it)", pytrace=False)
    server = start_auth_server(
        tmp_path_factory.mktemp("task-builds"),
        DOCKYARD_TASK_MIN_TIMEOUT_SECONDS="5",
        DOCKYARD_TASK_ALLOW_PRIVATE_SOURCES="true",
        DOCKYARD_TASK_ENGINES='["buildah", "docker"]',
        # The test daemon has no network for BuildKit; the classic builder is enough.
        DOCKER_BUILDKIT="0",
    )
    with httpx.Client(base_url=server.url, timeout=120, headers=server.owner()) as http:
        registry = RegistryHTTP(http)
        for tag in ("1", "2"):
            rootfs = busybox_rootfs_tar({"etc/base-version": f"{tag}\n".encode()})
            registry.push_image("base/busybox", tag, make_image([rootfs]))
    yield server
    server.close()


@pytest.fixture
def http(srv: AuthServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=120, headers=srv.owner()) as client:
        yield client


def _follow(http: httpx.Client, run_id: str, until: str) -> tuple[str, str | None]:
    """Read the log with follow to its end; the status of the run when `until` first showed."""
    text, status_then = "", None
    with http.stream("GET", f"/api/v1/runs/{run_id}/logs", params={"follow": "true"}) as resp:
        assert resp.status_code == 200, describe(resp)
        assert resp.headers["content-type"] == "text/plain; charset=utf-8"
        for chunk in resp.iter_text():
            text += chunk
            if status_then is None and until in text:
                status_then = get_run(http, run_id)["status"]
    return text, status_then


def _digest(http: httpx.Client, repository: str, tag: str) -> str:
    return str(RegistryHTTP(http).get_manifest(repository, tag).headers["Docker-Content-Digest"])


def _top_layer_files(http: httpx.Client, repository: str, reference: str) -> dict[str, Any]:
    registry = RegistryHTTP(http)
    manifest = registry.get_manifest(repository, reference).json()
    layer = registry.get_blob(repository, manifest["layers"][-1]["digest"])
    return tar_members(layer)


def test_multi_stage_build_streams_its_log_pushes_and_runs(
    http: httpx.Client, srv: AuthServer
) -> None:
    source = upload_source(http, context_tar({"Dockerfile": MULTI_STAGE, "msg.txt": "copied\n"}))
    run = create_run(
        http,
        source=source,
        images=["e2e/hello:{{.Run.ID}}", "e2e/hello:latest"],
        build_args={"BASE_TAG": "2", "GREETING": "hola"},
        timeout=600,
    )
    run_id = run["run_id"]
    assert run["images"] == [f"e2e/hello:{run_id}", "e2e/hello:latest"]

    log, status_at_tick = _follow(http, run_id, "tick 1")
    # The RUN step's output arrived while the run was going on, and the stream ended with it.
    assert status_at_tick == "Running", log
    assert "building hola" in log, log
    assert "tick 5" in log, log
    # Unqualified names resolved against this registry.
    assert f"Trying to pull {srv.host}/base/busybox:2" in log, log
    run = get_run(http, run_id)
    assert run["status"] == "Succeeded", f"{run}\n{log}"
    assert log == log_text(http, run_id), "the stored log is what was streamed"
    assert run["error"] is None
    assert run["duration_seconds"] is not None
    assert run["duration_seconds"] > 4
    assert run["started_at"] <= run["finished_at"]

    # Each base as it was when the build began: the digests the base-image trigger compares.
    assert run["base_images"] == [
        {
            "stage": 0,
            "name": "builder",
            "image": "base/busybox:2",
            "runtime": False,
            "digest": _digest(http, "base/busybox", "2"),
        },
        {
            "stage": 1,
            "name": None,
            "image": "base/busybox:1",
            "runtime": True,
            "digest": _digest(http, "base/busybox", "1"),
        },
    ]
    outputs = {o["tag"]: o for o in run["output_images"]}
    assert set(outputs) == {run_id, "latest"}
    for tag, output in outputs.items():
        assert output["repository"] == "e2e/hello"
        served = RegistryHTTP(http).get_manifest("e2e/hello", tag)
        assert served.headers["Docker-Content-Digest"] == output["digest"]
    files = _top_layer_files(http, "e2e/hello", run_id)
    assert files.get("greeting.txt") == b"hola copied from base 2\n"

    # The image runs: a quick run of it prints what its CMD prints.
    shown = create_run(http, kind="cmd", cmd=f"e2e/hello:{run_id}", timeout=300)
    shown = wait_for_run(http, shown["run_id"], timeout=180)
    assert shown["status"] == "Succeeded", log_text(http, shown["run_id"])
    assert "hola copied from base 2" in log_text(http, shown["run_id"])


def test_quick_cmd_runs_print_their_output_and_fail_with_their_status(
    http: httpx.Client,
) -> None:
    ok = create_run(http, kind="cmd", cmd="base/busybox:1 sh -c 'echo out-line; echo err-line >&2'")
    ok = wait_for_run(http, ok["run_id"], timeout=180)
    log = log_text(http, ok["run_id"])
    assert ok["status"] == "Succeeded", log
    assert "out-line" in log
    assert "err-line" in log
    assert ok["output_images"] == []
    assert ok["base_images"] == []

    failing = create_run(http, kind="cmd", cmd="base/busybox:1 sh -c 'echo bye; exit 3'")
    failing = wait_for_run(http, failing["run_id"], timeout=180)
    assert failing["status"] == "Failed", log_text(http, failing["run_id"])
    assert failing["error"] == "the command exited with status 3"
    assert "bye" in log_text(http, failing["run_id"])


def test_failing_run_step_ends_failed_with_the_log(http: httpx.Client) -> None:
    dockerfile = "FROM base/busybox:1\nRUN echo about-to-fail; exit 7\n"
    source = upload_source(http, context_tar({"Dockerfile": dockerfile}))
    run = create_run(http, source=source, images=["e2e/failing:1"])
    run = wait_for_run(http, run["run_id"], timeout=180)
    log = log_text(http, run["run_id"])
    assert run["status"] == "Failed", f"{run}\n{log}"
    assert run["error"].startswith("the build failed"), run
    assert "about-to-fail" in log, log
    assert "exit status 7" in log, log
    assert run["output_images"] == []
    assert http.get("/v2/e2e/failing/manifests/1").status_code == 404


def test_cancel_and_timeout_end_the_process_tree(http: httpx.Client, srv: AuthServer) -> None:
    cases = (("cancel", "sleep 4321", 600), ("timeout", "sleep 5432", 8))
    for how, marker, timeout in cases:
        # The echoed word is computed by the shell so that buildah's own "STEP 2/2: RUN ..."
        # line, printed before the step starts, cannot satisfy the wait below.
        dockerfile = f"FROM base/busybox:1\nRUN echo sleeping-$((6*7)); {marker}\n"
        source = upload_source(http, context_tar({"Dockerfile": dockerfile}))
        run = create_run(http, source=source, images=[f"e2e/{how}:1"], timeout=timeout)
        run_id = run["run_id"]
        try:
            wait_for_log(http, run_id, "sleeping-42", timeout=120)
            assert wait_for_processes(marker), f"{how}: the RUN step is not running"
        except BaseException:
            http.post(f"/api/v1/runs/{run_id}/cancel")
            raise
        assert processes_matching("buildah", f"{srv.proc.data_dir}/tasks/{run_id}/"), how
        if how == "cancel":
            resp = http.post(f"/api/v1/runs/{run_id}/cancel")
            assert resp.status_code == 200, describe(resp)
            assert resp.json()["status"] in ("Started", "Running")
            asked = time.monotonic()
        run = wait_for_run(http, run_id, timeout=60)
        if how == "cancel":
            assert run["status"] == "Canceled", run
            assert run["error"] == "canceled"
            assert time.monotonic() - asked < 20
        else:
            assert run["status"] == "Timeout", run
            assert run["error"] == "the run exceeded its timeout of 8 s"
            assert 8 <= run["duration_seconds"] < 30, run
        # The whole tree is gone by the time the run has its final status.
        assert processes_matching(marker) == [], how
        assert processes_matching("buildah", f"{srv.proc.data_dir}/tasks/{run_id}/") == [], how
        assert f"ended {run['status']}" in log_text(http, run_id)
        assert http.get(f"/v2/e2e/{how}/manifests/1").status_code == 404


# --- contexts from a URL ------------------------------------------------------------------------


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP file server over a folder (git's dumb protocol works over it)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def test_contexts_from_a_tarball_url_and_a_git_repository(
    http: httpx.Client, file_server: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, root = file_server
    (root / "ctx.tar.gz").write_bytes(
        context_tar({"Dockerfile": "FROM base/busybox:1\nRUN echo from-tarball > /origin\n"})
    )
    work = tmp_path / "work"
    (work / "app").mkdir(parents=True)
    (work / "app" / "Dockerfile").write_text("FROM base/busybox:1\nCOPY note /origin\n")
    (work / "app" / "note").write_text("from-git\n")
    _git("init", "-q", "-b", "release", cwd=work)
    _git("add", ".", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(root / "repo.git"), cwd=tmp_path)
    _git("update-server-info", cwd=root / "repo.git")

    for context_url, repository, expected in (
        (f"{base_url}/ctx.tar.gz", "e2e/from-url", b"from-tarball\n"),
        (f"{base_url}/repo.git#release:app", "e2e/from-git", b"from-git\n"),
    ):
        run = create_run(http, context_url=context_url, images=[f"{repository}:1"])
        run = wait_for_run(http, run["run_id"], timeout=180)
        assert run["status"] == "Succeeded", log_text(http, run["run_id"])
        assert _top_layer_files(http, repository, "1").get("origin") == expected


def test_unpacked_context_never_leaves_its_folder(http: httpx.Client, srv: AuthServer) -> None:
    """A context that passed the upload checks still unpacks inside the run's folder only
    (the worker checks again and unpacks with tarfile's data filter)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in (("Dockerfile", "FROM base/busybox:1\nCOPY . /ctx/\n"), ("a/b", "x")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
        link = tarfile.TarInfo("a/self")
        link.type = tarfile.SYMTYPE
        link.linkname = "../a"
        tar.addfile(link)
    source = upload_source(http, buf.getvalue())
    run = create_run(http, source=source, images=["e2e/links:1"])
    run = wait_for_run(http, run["run_id"], timeout=180)
    assert run["status"] == "Succeeded", log_text(http, run["run_id"])
    files = _top_layer_files(http, "e2e/links", "1")
    assert files.get("ctx/a/b") == b"x"
    assert json.dumps(sorted(files)).count("ctx/a/self") == 1


def test_docker_engine_builds_and_pushes_with_the_run_credential(
    http: httpx.Client, srv: AuthServer, docker_cli: Tool
) -> None:
    """On a worker configured with docker, a run asking for it builds with the daemon (which
    resolves unqualified names against Docker Hub, so the base image is named in full)."""
    dockerfile = (
        f"FROM {srv.host}/base/busybox:2\nARG WORD=x\n"
        'RUN echo "docker-engine $WORD $(cat /etc/base-version)" > /engine.txt\n'
    )
    source = upload_source(http, context_tar({"Dockerfile": dockerfile}))
    run = create_run(
        http,
        source=source,
        engine="docker",
        images=["e2e/by-docker:{{.Run.ID}}"],
        build_args={"WORD": "ok"},
    )
    assert run["engine"] == "docker"
    run = wait_for_run(http, run["run_id"], timeout=300)
    assert run["status"] == "Succeeded", log_text(http, run["run_id"])
    [output] = run["output_images"]
    served = RegistryHTTP(http).get_manifest("e2e/by-docker", run["run_id"])
    assert served.headers["Docker-Content-Digest"] == output["digest"]
    files = _top_layer_files(http, "e2e/by-docker", run["run_id"])
    assert files.get("engine.txt") == b"docker-engine ok 2\n"
    assert run["base_images"] == [
        {
            "stage": 0,
            "name": None,
            "image": f"{srv.host}/base/busybox:2",
            "runtime": True,
            "digest": _digest(http, "base/busybox", "2"),
        }
    ]
    # No tag of the run is left in the daemon's shared store.
    left = docker_cli.run(
        "image", "inspect", f"{srv.host}/e2e/by-docker:{run['run_id']}", check=False
    )
    assert left.returncode != 0
