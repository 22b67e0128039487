"""The trust boundary of task runs (issue #11): what a task file's steps may reach on the
worker, with the real Docker daemon.

- No docker option can come from a task file's words: a tag such as `-v` is refused before
  any step runs, an image a failed build step named is not "built", and secrets reach the
  containers without being on any process's command line.
- A step's credential is the run's own: no management API, only the repositories the task
  file names, and only while the run is going on.
- By default steps get no host network and no host path.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import RegistryHTTP, busybox_rootfs_tar, make_image
from tests.e2e.task_server import owner_client, task_step_server
from tests.integration.auth_helpers import (
    REFRESH_USERNAME,
    AuthServer,
    basic,
    bearer,
    fetch_token,
    granted,
)
from tests.integration.helpers import describe
from tests.integration.task_helpers import (
    context_tar,
    create_run,
    log_text,
    upload_source,
    wait_for_log,
    wait_for_run,
)

pytestmark = pytest.mark.e2e

DOCKERFILE = """\
ARG REGISTRY
FROM ${REGISTRY}/base/busybox:1
RUN echo built
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    yield from task_step_server(tmp_path_factory.mktemp("task-boundary"))


@pytest.fixture
def http(srv: AuthServer) -> Iterator[httpx.Client]:
    yield from owner_client(srv)


def task_run(http: httpx.Client, files: dict[str, str], **body: object) -> str:
    source = upload_source(http, context_tar(files))
    run = create_run(http, kind="task", source=source, task_file="acb.yaml", **body)
    return str(run["run_id"])


def refused_before_any_step(http: httpx.Client, run_id: str) -> tuple[dict[str, object], str]:
    run = wait_for_run(http, run_id, timeout=180)
    log = log_text(http, run_id)
    assert run["status"] == "Failed", f"{run}\n{log}"
    assert run["steps"] == [], run  # no step was even queued
    assert "Step " not in log, log
    return run, log


# --- 1. option injection ---------------------------------------------------------------------


def test_a_tag_that_is_an_option_is_refused_before_any_step(
    http: httpx.Client, tmp_path: Path
) -> None:
    """The attack of the issue: `build: -t -v .` failed (ignoreErrors) but counted `-v` as a
    built image, so `cmd: -v <host folder>:/m:ro <image> cat ...` put a bind mount of the
    host in front of the image and read the host's files."""
    host_secret = f"host-only-{uuid.uuid4().hex}"
    folder = tmp_path / "host-folder"
    folder.mkdir()
    (folder / "secret.txt").write_text(host_secret + "\n")
    task = f"""\
steps:
  - id: tag
    build: -t -v .
    ignoreErrors: true
  - id: read
    cmd: -v {folder}:/m:ro {{{{.Run.Registry}}}}/base/busybox:1 cat /m/secret.txt
"""
    run_id = task_run(http, {"acb.yaml": task, "Dockerfile": "FROM scratch\nCOPY acb.yaml /\n"})
    run, log = refused_before_any_step(http, run_id)
    error = str(run["error"])
    assert "line 2: step 'tag': build: the tag '-v' is not an image reference" in error, error
    assert "line 5: step 'read': cmd: '-v' is not an image reference" in error, error
    assert "'-v'" in error, error
    assert host_secret not in log


def test_options_hidden_in_a_cmd_image_or_a_build_are_refused(http: httpx.Client) -> None:
    task = """\
steps:
  - id: priv
    cmd: --privileged base/busybox:1 id
  - id: pid
    cmd: --pid=host base/busybox:1 ps
  - id: hostnet
    build: -t img:1 --network host .
  - id: arg
    build: -t img:2 --build-arg DOCKER_HOST=tcp://10.0.0.1:2375 .
"""
    run_id = task_run(http, {"acb.yaml": task, "Dockerfile": DOCKERFILE})
    run, _ = refused_before_any_step(http, run_id)
    error = str(run["error"])
    for line in ("line 2", "line 4", "line 6", "line 8"):
        assert line in error, error
    assert "DOCKYARD_TASK_ALLOW_HOST_NETWORK" in error, error


def test_an_image_whose_build_failed_is_not_built(http: httpx.Client, srv: AuthServer) -> None:
    task = f"""\
steps:
  - id: broken
    build: -t {srv.host}/boundary/broken:1 --build-arg REGISTRY={srv.host} .
    ignoreErrors: true
  - id: push
    push: ["{srv.host}/boundary/broken:1"]
"""
    files = {"acb.yaml": task, "Dockerfile": DOCKERFILE.replace("echo built", "exit 7")}
    run_id = task_run(http, files)
    run = wait_for_run(http, run_id, timeout=300)
    log = log_text(http, run_id)
    assert run["status"] == "Failed", log
    assert run["error"] == (
        f"step 'push' failed: {srv.host}/boundary/broken:1 was not built by a step of this run"
    ), run


def _command_lines() -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return lines


class CommandLineScan:
    """Watches every process's command line for a text while it is open."""

    def __init__(self, needle: str) -> None:
        self.needle = needle
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def _scan(self) -> None:
        while not self._stop.is_set():
            self.seen.extend(line for line in _command_lines() if self.needle in line)
            time.sleep(0.05)

    def __enter__(self) -> CommandLineScan:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_quick_builds_arguments_are_on_no_command_line(
    http: httpx.Client, srv: AuthServer
) -> None:
    """A saved build task's secret values are build arguments: buildah reads them from its
    environment, not its command line."""
    secret = f"Secret-{uuid.uuid4().hex}"
    dockerfile = DOCKERFILE.replace(
        "RUN echo built", 'ARG TOKEN\nRUN echo "arg-length=${#TOKEN}" && sleep 4'
    )
    source = upload_source(http, context_tar({"Dockerfile": dockerfile}))
    with CommandLineScan(secret) as scan:
        run = create_run(
            http,
            kind="build",
            source=source,
            images=["boundary/args:{{.Run.ID}}"],
            build_args={"REGISTRY": srv.host, "TOKEN": secret},
        )
        run_id = str(run["run_id"])
        run = wait_for_run(http, run_id, timeout=300)
    log = log_text(http, run_id)
    assert run["status"] == "Succeeded", log
    assert f"arg-length={len(secret)}" in log
    assert scan.seen == []


def test_secrets_reach_steps_without_a_command_line(http: httpx.Client, srv: AuthServer) -> None:
    """While a build step and a cmd step use a secret (a build argument, an env value), no
    process on the machine shows it in its command line; the containers have it."""
    secret = f"Secret-{uuid.uuid4().hex}"
    task = f"""\
version: v1.1.0
secrets:
  - id: token
steps:
  - id: build
    build: >-
      -t {srv.host}/boundary/args:1 --build-arg REGISTRY={srv.host}
      --build-arg TOKEN={{{{.Secrets.token}}}} .
  - id: env
    cmd: base/busybox:1 sh -c 'echo "env-length=${{#TOKEN}}"; sleep 6; echo env-done'
    env: ["TOKEN={{{{.Secrets.token}}}}"]
    when: ["-"]
"""
    dockerfile = DOCKERFILE.replace(
        "RUN echo built", 'ARG TOKEN\nRUN echo "arg-length=${#TOKEN}" && sleep 6'
    )
    with CommandLineScan(secret) as scan:
        run_id = task_run(
            http, {"acb.yaml": task, "Dockerfile": dockerfile}, secret_values={"token": secret}
        )
        run = wait_for_run(http, run_id, timeout=300)
    log = log_text(http, run_id)
    assert run["status"] == "Succeeded", log
    assert f"arg-length={len(secret)}" in log
    assert f"[env] env-length={len(secret)}" in log
    assert secret not in log
    assert scan.seen == []


# --- 2. the run's own credential -------------------------------------------------------------


def _run_credential(log: str, host: str) -> str:
    """The password of the config.json a step printed."""
    for line in log.splitlines():
        _, _, text = line.partition("] ")
        if text.startswith('{"auths"'):
            auth = json.loads(text)["auths"][host]["auth"]
            username, _, password = base64.b64decode(auth).decode().partition(":")
            assert username == REFRESH_USERNAME
            return password
    raise AssertionError(f"no credential in the log:\n{log}")


def test_a_step_credential_is_the_runs_own(http: httpx.Client, srv: AuthServer) -> None:
    other = f"boundary/other-{uuid.uuid4().hex[:8]}"
    RegistryHTTP(http).push_image(other, "1", make_image([busybox_rootfs_tar()]))
    task = """\
steps:
  - id: leak
    cmd: >-
      base/busybox:1 sh -c 'cat /root/.docker/config.json; echo;
      echo leaked-$((6*7)); sleep 120'
"""
    run_id = task_run(http, {"acb.yaml": task}, timeout=300)
    try:
        log = wait_for_log(http, run_id, "leaked-42", timeout=180)
        password = _run_credential(log, srv.host)
        creds = basic(REFRESH_USERNAME, password)
        with httpx.Client(base_url=srv.url, timeout=30) as anyone:
            # No management API, with Basic or with a Bearer token minted from it.
            for path in ("/api/v1/runs", "/api/v1/users", f"/api/v1/runs/{run_id}"):
                resp = anyone.get(path, headers=creds)
                assert resp.status_code in (401, 403), describe(resp)
            resp = fetch_token(anyone, creds, "repository:base/busybox:pull", service=srv.host)
            assert resp.status_code == 200, describe(resp)
            access_token = resp.json()["token"]
            assert resp.json()["expires_in"] <= 300
            assert granted(access_token) == {"base/busybox": {"pull"}}
            resp = anyone.get("/api/v1/runs", headers=bearer(access_token))
            assert resp.status_code in (401, 403), describe(resp)
            # The repository it names: pull only (the task file pushes nothing).
            resp = anyone.get("/v2/base/busybox/tags/list", headers=creds)
            assert resp.status_code == 200, describe(resp)
            resp = anyone.post("/v2/base/busybox/blobs/uploads/", headers=creds)
            assert resp.status_code == 403, describe(resp)
            # A repository the task file does not name, though the requester (owner) may.
            resp = anyone.get(f"/v2/{other}/tags/list", headers=creds)
            assert resp.status_code == 403, describe(resp)
            resp = fetch_token(anyone, creds, f"repository:{other}:pull,push", service=srv.host)
            assert resp.status_code == 200, describe(resp)
            assert granted(resp.json()["token"]) == {other: set()}
            assert http.get(f"/v2/{other}/tags/list").status_code == 200  # the owner may
    finally:
        resp = http.post(f"/api/v1/runs/{run_id}/cancel")
        assert resp.status_code == 200, describe(resp)
    run = wait_for_run(http, run_id, timeout=60)
    assert run["status"] == "Canceled", run
    # The run is over: its credential, and the access token minted from it, are refused.
    with httpx.Client(base_url=srv.url, timeout=30) as anyone:
        resp = anyone.get("/v2/base/busybox/tags/list", headers=creds)
        assert resp.status_code == 401, describe(resp)
        resp = fetch_token(anyone, creds, "repository:base/busybox:pull", service=srv.host)
        assert resp.status_code == 401, describe(resp)
        resp = anyone.get("/v2/base/busybox/tags/list", headers=bearer(access_token))
        assert resp.status_code == 401, describe(resp)


def test_a_quick_build_pushes_with_the_runs_identity(http: httpx.Client, srv: AuthServer) -> None:
    source = upload_source(http, context_tar({"Dockerfile": DOCKERFILE}))
    run = create_run(
        http,
        kind="build",
        source=source,
        images=["boundary/quick:{{.Run.ID}}"],
        build_args={"REGISTRY": srv.host},
        engine="docker",
    )
    run_id = str(run["run_id"])
    run = wait_for_run(http, run_id, timeout=300)
    assert run["status"] == "Succeeded", log_text(http, run_id)
    pushes = [
        entry
        for entry in srv.audit()
        if entry.get("event") == "authorize"
        and entry.get("outcome") == "allowed"
        and str(entry.get("path", "")).startswith("/v2/boundary/quick/manifests/")
        and entry.get("method") == "PUT"
    ]
    assert pushes, "no push of the build in the audit log"
    assert {entry["actor"] for entry in pushes} == {f"run:{run_id}"}, pushes


# --- 3. what a step may reach ---------------------------------------------------------------


def test_steps_get_no_host_network_and_no_host_paths(http: httpx.Client, srv: AuthServer) -> None:
    refused = """\
steps:
  - id: on-host
    cmd: base/busybox:1 echo should-not-run
    network: host
"""
    run, log = refused_before_any_step(http, task_run(http, {"acb.yaml": refused}))
    assert "line 2" in str(run["error"]), run
    assert "DOCKYARD_TASK_ALLOW_HOST_NETWORK" in str(run["error"]), run
    assert "should-not-run" not in log
    skip = """\
networks:
  - name: host
    skipCreation: true
steps:
  - id: joined
    cmd: base/busybox:1 echo should-not-run
    network: host
"""
    run, log = refused_before_any_step(http, task_run(http, {"acb.yaml": skip}))
    assert "skipCreation" in str(run["error"]), run
    # A default step: its own network (the worker's loopback is not the registry's), and no
    # mount but the workspace, its credential and the container's own files.
    probe = f"""\
steps:
  - id: probe
    cmd: >-
      base/busybox:1 sh -c 'busybox wget -q -T 3 -O- http://127.0.0.1:{srv.port}/v2/
      && echo reached-host || echo no-host-network;
      while read -r _ _ _ _ point _; do echo "mount $point"; done < /proc/self/mountinfo'
"""
    run_id = task_run(http, {"acb.yaml": probe})
    run = wait_for_run(http, run_id, timeout=180)
    log = log_text(http, run_id)
    assert run["status"] == "Succeeded", log
    assert "[probe] no-host-network" in log
    assert "reached-host" not in log
    mounts = set(re.findall(r"\[probe\] mount (\S+)", log))
    daemon_own = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
    binds = {m for m in mounts if not m.startswith(("/proc", "/dev", "/sys"))} - {"/"}
    assert binds - daemon_own == {"/workspace", "/root/.docker/config.json"}, mounts
