"""Base-image triggers with real builds: a push of a new image to a base tag of this registry
runs the saved tasks built from it (Runtime: the final stage's base only; All: any stage),
chains run through (A's push rebuilds B, B's rebuilds C), a cycle of tasks stops, and a base
image in another registry (Debian's `docker-registry`) is polled for new digests."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, free_port
from tests.e2e.helpers import RegistryHTTP, busybox_rootfs_tar, make_image
from tests.integration.cleanup_helpers import cli
from tests.integration.helpers import describe
from tests.integration.task_helpers import (
    context_tar,
    create_run,
    log_text,
    upload_source,
    wait_for_run,
)

DOCKER_REGISTRY = "/usr/bin/docker-registry"
POLL_SECONDS = 2


# --- the servers ------------------------------------------------------------------------------


class Contexts:
    """Build contexts as tarballs served over HTTP on loopback."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def put(self, name: str, dockerfile: str) -> str:
        (self.root / f"{name}.tar.gz").write_bytes(context_tar({"Dockerfile": dockerfile}))
        return f"{self.url}/{name}.tar.gz"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contexts]:
    served = Contexts(tmp_path_factory.mktemp("contexts"))
    yield served
    served.httpd.shutdown()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's `docker-registry` (the CNCF distribution registry): host:port, plain HTTP."""
    assert os.access(DOCKER_REGISTRY, os.X_OK), "install Debian's docker-registry package"
    root = tmp_path_factory.mktemp("upstream")
    port = free_port()
    config = root / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with (root / "registry.log").open("wb") as out:
        proc = subprocess.Popen([DOCKER_REGISTRY, "serve", str(config)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (root / "registry.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[ServerProcess]:
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (scripts/test.sh installs it)", pytrace=False)
    process = ServerProcess(
        tmp_path_factory.mktemp("base-image-trigger"),
        env={
            "DOCKYARD_TASK_ALLOW_PRIVATE_SOURCES": "true",
            "DOCKYARD_TASK_BASE_IMAGE_POLL_SECONDS": str(POLL_SECONDS),
            "DOCKYARD_TASK_UPSTREAM_REGISTRIES": json.dumps([f"http://{upstream}"]),
            "DOCKYARD_TASK_POLL_SECONDS": "0.3",
            "DOCKYARD_TASK_MIN_TIMEOUT_SECONDS": "60",
        },
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


# --- helpers ----------------------------------------------------------------------------------


def push_base(http: httpx.Client, repository: str, tag: str, variant: str) -> str:
    """A busybox image that differs by one file, pushed; its digest."""
    image = make_image([busybox_rootfs_tar({"etc/variant": variant.encode()})])
    return RegistryHTTP(http).push_image(repository, tag, image)


def create_task(
    http: httpx.Client, contexts: Contexts, name: str, dockerfile: str, image: str, **extra: Any
) -> None:
    body = {
        "name": name,
        "context": contexts.put(name, dockerfile),
        "file": "Dockerfile",
        "images": [image],
        "base_image_trigger_enabled": True,
        "timeout": 600,
        **extra,
    }
    resp = http.post("/api/v1/tasks", json=body)
    assert resp.status_code == 201, describe(resp)


def runs_of(http: httpx.Client, task: str) -> list[dict[str, Any]]:
    """Oldest first."""
    resp = http.get(f"/api/v1/tasks/{task}/runs")
    assert resp.status_code == 200, describe(resp)
    runs: list[dict[str, Any]] = resp.json()
    return sorted(runs, key=lambda run: int(run["run_id"].removeprefix("ca")))


def run_by_hand(http: httpx.Client, task: str) -> dict[str, Any]:
    resp = http.post(f"/api/v1/tasks/{task}/runs", json={})
    assert resp.status_code == 201, describe(resp)
    run = wait_for_run(http, resp.json()["run_id"], timeout=300)
    assert run["status"] == "Succeeded", log_text(http, run["run_id"])
    return run


def wait_for_triggered(
    http: httpx.Client, task: str, count: int = 1, timeout: float = 300
) -> list[dict[str, Any]]:
    """The task's base-image runs once there are `count` of them, each finished."""
    deadline = time.monotonic() + timeout
    while True:
        found = [run for run in runs_of(http, task) if run["trigger"] == "base_image"]
        if len(found) >= count:
            return [wait_for_run(http, run["run_id"], timeout=300) for run in found]
        assert time.monotonic() < deadline, f"{task}: {len(found)} base-image runs, not {count}"
        time.sleep(0.3)


def settled(http: httpx.Client, tasks: list[str], quiet: float = 3 * POLL_SECONDS) -> None:
    """Wait until no run of these tasks is queued or going, and none was made for `quiet`
    seconds."""
    deadline = time.monotonic() + 300
    last: list[str] = []
    since = time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the tasks never settled"
        runs = [run for task in tasks for run in runs_of(http, task)]
        ids = sorted(run["run_id"] for run in runs)
        busy = any(run["status"] in ("Queued", "Started", "Running") for run in runs)
        if ids != last or busy:
            last, since = ids, time.monotonic()
        time.sleep(0.3)


def pushed_digest(run: dict[str, Any]) -> str:
    (output,) = run["output_images"]
    digest: str = output["digest"]
    return digest


# --- this registry ----------------------------------------------------------------------------


def test_a_new_digest_of_the_base_tag_runs_the_dependent_task(
    http: httpx.Client, contexts: Contexts
) -> None:
    first = push_base(http, "bt1/base", "1", "one")
    dockerfile = "FROM bt1/base:1\nLABEL built=yes\n"
    create_task(http, contexts, "bt1-app", dockerfile, "bt1/app:1")
    create_task(
        http, contexts, "bt1-off", dockerfile, "bt1/off:1", base_image_trigger_enabled=False
    )
    manual = run_by_hand(http, "bt1-app")
    run_by_hand(http, "bt1-off")
    assert [(b["image"], b["digest"], b["runtime"]) for b in manual["base_images"]] == [
        ("bt1/base:1", first, True)
    ]
    assert f"FROM bt1/base:1@{first}" in log_text(http, manual["run_id"])

    # The same manifest pushed again changes nothing; a new one runs the task once.
    assert push_base(http, "bt1/base", "1", "one") == first
    second = push_base(http, "bt1/base", "1", "two")
    (run,) = wait_for_triggered(http, "bt1-app")
    assert run["status"] == "Succeeded", log_text(http, run["run_id"])
    assert run["trigger_detail"] == f"bt1/base:1@{second}"
    assert run["trigger_chain"] == []
    assert [b["digest"] for b in run["base_images"]] == [second]
    settled(http, ["bt1-app", "bt1-off"])
    assert len(runs_of(http, "bt1-app")) == 2
    assert [r["trigger"] for r in runs_of(http, "bt1-off")] == ["manual"]


def test_runtime_watches_the_final_stage_and_all_every_stage(
    http: httpx.Client, contexts: Contexts, server: ServerProcess
) -> None:
    push_base(http, "bt2/builder", "1", "one")
    push_base(http, "bt2/runtime", "1", "one")
    dockerfile = (
        "FROM bt2/builder:1 AS build\n"
        "RUN echo made > /made\n"
        "FROM bt2/runtime:1\n"
        "COPY --from=build /made /made\n"
    )
    create_task(http, contexts, "bt2-runtime", dockerfile, "bt2/runtime-app:1")
    # The CLI, as a user saves a task with the trigger on for every stage.
    created = cli(
        server,
        "task", "create", "-n", "bt2-all",
        "--context", contexts.put("bt2-all", dockerfile), "--file", "Dockerfile",
        "-t", "bt2/all-app:1", "--timeout", "600",
        "--base-image-trigger-enabled", "--base-image-trigger-type", "All",
    )  # fmt: skip
    assert (created["base_image_trigger_enabled"], created["base_image_trigger_type"]) == (
        True,
        "All",
    )
    run_by_hand(http, "bt2-runtime")
    run_by_hand(http, "bt2-all")

    builder = push_base(http, "bt2/builder", "1", "two")
    (run,) = wait_for_triggered(http, "bt2-all")
    assert run["trigger_detail"] == f"bt2/builder:1@{builder}"
    # Both tasks were weighed in the same transaction: the Runtime one was not started.
    assert [r["trigger"] for r in runs_of(http, "bt2-runtime")] == ["manual"]

    runtime = push_base(http, "bt2/runtime", "1", "two")
    (run,) = wait_for_triggered(http, "bt2-runtime")
    assert run["trigger_detail"] == f"bt2/runtime:1@{runtime}"
    assert run["status"] == "Succeeded", log_text(http, run["run_id"])
    runs = wait_for_triggered(http, "bt2-all", count=2)
    assert runs[1]["trigger_detail"] == f"bt2/runtime:1@{runtime}"
    settled(http, ["bt2-runtime", "bt2-all"])
    assert len(runs_of(http, "bt2-runtime")) == 2
    assert len(runs_of(http, "bt2-all")) == 3


def test_a_chain_of_tasks_rebuilds_in_order(http: httpx.Client, contexts: Contexts) -> None:
    push_base(http, "bt3/base", "1", "one")
    create_task(http, contexts, "bt3-a", "FROM bt3/base:1\nLABEL step=a\n", "bt3/a:1")
    create_task(http, contexts, "bt3-b", "FROM bt3/a:1\nLABEL step=b\n", "bt3/b:1")
    create_task(http, contexts, "bt3-c", "FROM bt3/b:1\nLABEL step=c\n", "bt3/c:1")
    for task in ("bt3-a", "bt3-b", "bt3-c"):
        run_by_hand(http, task)

    base = push_base(http, "bt3/base", "1", "two")
    (a,) = wait_for_triggered(http, "bt3-a")
    assert (a["trigger_detail"], a["trigger_chain"]) == (f"bt3/base:1@{base}", [])
    (b,) = wait_for_triggered(http, "bt3-b")
    assert (b["trigger_detail"], b["trigger_chain"]) == (f"bt3/a:1@{pushed_digest(a)}", ["bt3-a"])
    (c,) = wait_for_triggered(http, "bt3-c")
    assert c["trigger_detail"] == f"bt3/b:1@{pushed_digest(b)}"
    assert c["trigger_chain"] == ["bt3-a", "bt3-b"]
    assert [r["status"] for r in (a, b, c)] == ["Succeeded"] * 3
    settled(http, ["bt3-a", "bt3-b", "bt3-c"])
    assert [len(runs_of(http, t)) for t in ("bt3-a", "bt3-b", "bt3-c")] == [2, 2, 2]


def test_a_cycle_of_tasks_stops(
    http: httpx.Client, contexts: Contexts, server: ServerProcess
) -> None:
    """X builds FROM y:1 and pushes z:1; Y builds FROM z:1 and pushes y:1."""
    push_base(http, "bt4/y", "1", "one")
    push_base(http, "bt4/z", "1", "one")
    create_task(http, contexts, "bt4-x", "FROM bt4/y:1\nLABEL task=x\n", "bt4/z:1")
    create_task(http, contexts, "bt4-y", "FROM bt4/z:1\nLABEL task=y\n", "bt4/y:1")
    run_by_hand(http, "bt4-x")
    y = run_by_hand(http, "bt4-y")  # its push of y:1 starts X, whose push of z:1 ends it

    (x,) = wait_for_triggered(http, "bt4-x")
    assert (x["trigger_detail"], x["trigger_chain"]) == (f"bt4/y:1@{pushed_digest(y)}", ["bt4-y"])
    assert x["status"] == "Succeeded", log_text(http, x["run_id"])
    settled(http, ["bt4-x", "bt4-y"])
    assert [r["trigger"] for r in runs_of(http, "bt4-x")] == ["manual", "base_image"]
    assert [r["trigger"] for r in runs_of(http, "bt4-y")] == ["manual"]
    assert f"bt4/z:1@{pushed_digest(x)}: task bt4-y not started: a cycle" in server.log()


# --- another registry -------------------------------------------------------------------------


def test_a_base_image_in_another_registry_is_polled(
    http: httpx.Client, contexts: Contexts, upstream: str
) -> None:
    with httpx.Client(base_url=f"http://{upstream}", timeout=60) as other:
        first = push_base(other, "bt5/base", "1", "one")
        # Named with the other registry's host, and unqualified (not in this registry, so
        # found upstream).
        create_task(http, contexts, "bt5-full", f"FROM {upstream}/bt5/base:1\n", "bt5/full:1")
        create_task(http, contexts, "bt5-short", "FROM bt5/base:1\nLABEL x=y\n", "bt5/short:1")
        for task in ("bt5-full", "bt5-short"):
            run = run_by_hand(http, task)
            assert [b["digest"] for b in run["base_images"]] == [first]

        second = push_base(other, "bt5/base", "1", "two")
    for task in ("bt5-full", "bt5-short"):
        (run,) = wait_for_triggered(http, task, timeout=120)
        assert run["trigger_detail"] == f"{upstream}/bt5/base:1@{second}"
        assert run["status"] == "Succeeded", log_text(http, run["run_id"])
        assert [b["digest"] for b in run["base_images"]] == [second]
    settled(http, ["bt5-full", "bt5-short"])
    assert [len(runs_of(http, t)) for t in ("bt5-full", "bt5-short")] == [2, 2]

    # The unqualified name is found in this registry first, once it is pushed here.
    here = push_base(http, "bt5/base", "1", "here")
    runs = wait_for_triggered(http, "bt5-short", count=2)
    assert runs[1]["trigger_detail"] == f"bt5/base:1@{here}"
    assert [b["digest"] for b in runs[1]["base_images"]] == [here]
    settled(http, ["bt5-full", "bt5-short"])
    assert len(runs_of(http, "bt5-full")) == 2


def test_other_registries_on_private_addresses_are_not_asked(tmp_path: Path, upstream: str) -> None:
    """Without task_allow_private_sources, the digest of a base image in a registry on a
    loopback address is not asked for (the run records none, the server log says why)."""
    with httpx.Client(base_url=f"http://{upstream}", timeout=60) as other:
        push_base(other, "bt6/base", "1", "one")
    process = ServerProcess(tmp_path / "private", env={"DOCKYARD_TASK_POLL_SECONDS": "0.3"})
    process.start()
    try:
        with httpx.Client(base_url=process.url, timeout=60) as client:
            source = upload_source(
                client, context_tar({"Dockerfile": f"FROM {upstream}/bt6/base:1\n"})
            )
            run = create_run(client, source=source, images=["bt6/app:1"])
            run = wait_for_run(client, run["run_id"], timeout=120)
        assert [(b["image"], b["digest"]) for b in run["base_images"]] == [
            (f"{upstream}/bt6/base:1", None)
        ]
        assert "task_allow_private_sources" in process.log()
    finally:
        process.stop()
