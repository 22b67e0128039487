"""Fixtures for the real-client end-to-end suite.

Real clients never skip: a missing tool or an unreachable Docker daemon fails the test.
Outside CI, if no Docker daemon answers and we are root, one is started for the session
(vfs storage, no bridge, no iptables) and stopped afterwards; in CI (CI=true) the daemon
must already be running (scripts/test.sh starts it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.helpers import (
    IN_CI,
    RegistryHTTP,
    Tool,
    busybox_rootfs_tar,
    make_image,
    require_tool,
    sha256_digest,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

DOCKERD_ARGS = ("--storage-driver=vfs", "--iptables=false", "--ip-masq=false", "--bridge=none")
BASE_IMAGE_TAG = "dockyard-e2e/busybox:base"


def _docker_info_ok(docker: str) -> tuple[bool, str]:
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return False, "docker info timed out"
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def _start_dockerd(log_dir: Path) -> subprocess.Popen[bytes]:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.fail("dockerd is not installed (apt-get install docker.io)", pytrace=False)
    log_path = log_dir / "dockerd.log"
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [dockerd, *DOCKERD_ARGS],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


@pytest.fixture(scope="session")
def docker_cli() -> Iterator[Tool]:
    """The docker CLI, with a reachable daemon (started here only outside CI)."""
    docker = require_tool("docker")
    ok, info = _docker_info_ok(docker)
    proc: subprocess.Popen[bytes] | None = None
    log_dir: Path | None = None
    if not ok:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if IN_CI or os.geteuid() != 0:
            pytest.fail(
                f"Docker daemon at {where} is not reachable ({info}); scripts/test.sh starts "
                "it with `dockerd " + " ".join(DOCKERD_ARGS) + "`",
                pytrace=False,
            )
        log_dir = Path(tempfile.mkdtemp(prefix="dockyard-e2e-dockerd-"))
        proc = _start_dockerd(log_dir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ok:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
            ok, info = _docker_info_ok(docker)
        if not ok:
            log = (log_dir / "dockerd.log").read_text(errors="replace")[-4000:]
            if proc.poll() is None:
                proc.terminate()
            pytest.fail(f"could not start dockerd ({info}):\n{log}", pytrace=False)
    # BuildKit needs a network the daemon does not have; the classic builder is enough here.
    tool = Tool("docker", docker, env={"DOCKER_BUILDKIT": "0"})
    yield tool
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def busybox_rootfs(e2e_dir: Path) -> Path:
    """Uncompressed, deterministic rootfs tar of the static busybox (made once a session)."""
    path = e2e_dir / "busybox-rootfs.tar"
    path.write_bytes(busybox_rootfs_tar())
    return path


def import_image(docker_cli: Tool, rootfs: Path, tag: str) -> str:
    """`docker import` a rootfs tar as an image; returns the image ID."""
    image_id = docker_cli(
        "import", "--change", 'CMD ["sh"]', "--change", "ENV PATH=/bin", str(rootfs), tag
    ).strip()
    out = docker_cli("run", "--rm", "--network", "none", tag, "sh", "-c", "echo busybox-ok")
    assert out.strip() == "busybox-ok", f"base image {tag} does not run busybox: {out!r}"
    return image_id


@pytest.fixture(scope="session")
def base_image(docker_cli: Tool, busybox_rootfs: Path) -> str:
    """A busybox image in the local Docker daemon, made offline with `docker import`.

    The rootfs tar is deterministic, so an image already tagged with exactly that layer
    (from an earlier session) is reused instead of imported again.
    """
    diff_id = sha256_digest(busybox_rootfs.read_bytes())
    found = docker_cli.run(
        "image", "inspect", "--format", "{{json .RootFS.Layers}}", BASE_IMAGE_TAG, check=False
    )
    if found.returncode == 0 and json.loads(found.stdout) == [diff_id]:
        return BASE_IMAGE_TAG
    import_image(docker_cli, busybox_rootfs, BASE_IMAGE_TAG)
    return BASE_IMAGE_TAG


@pytest.fixture
def unique_base_image(docker_cli: Tool, tmp_path: Path) -> Iterator[str]:
    """A busybox image whose layer no other image shares (removed after the test).

    Used where a pull must fetch every layer from the registry, not find it in the
    daemon's layer store.
    """
    nonce = uuid.uuid4().hex
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar({"etc/dockyard-nonce": nonce.encode()}))
    tag = f"dockyard-e2e/busybox-unique:{nonce[:12]}"
    import_image(docker_cli, rootfs, tag)
    yield tag
    docker_cli.run("rmi", "-f", tag, check=False)


@pytest.fixture(scope="session")
def containers_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ...]]:
    """Global options giving buildah/podman a private vfs store for the session."""
    root = tmp_path_factory.mktemp("containers-storage")
    # podman refuses a runroot longer than 50 characters, so keep it short.
    runroot = tempfile.mkdtemp(prefix="dy-run-", dir="/tmp")
    yield (
        "--root", str(root),
        "--runroot", runroot,
        "--storage-driver", "vfs",
    )  # fmt: skip
    shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture(scope="session")
def skopeo() -> Tool:
    return Tool("skopeo", require_tool("skopeo"))


@pytest.fixture(scope="session")
def buildah(containers_storage: tuple[str, ...]) -> Tool:
    return Tool(
        "buildah", require_tool("buildah"), containers_storage, env={"BUILDAH_ISOLATION": "chroot"}
    )


@pytest.fixture(scope="session")
def podman(containers_storage: tuple[str, ...]) -> Tool:
    return Tool(
        "podman",
        require_tool("podman"),
        (*containers_storage, "--cgroup-manager", "cgroupfs", "--events-backend", "file"),
    )


@pytest.fixture(scope="session")
def registry_base(server: ServerProcess, busybox_rootfs: Path) -> str:
    """The busybox base image pushed into the shared server (plain HTTP, OCI manifest)."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        image = make_image([busybox_rootfs.read_bytes()])
        RegistryHTTP(http).push_image("e2e/busybox", "base", image)
    return f"{server.host}/e2e/busybox:base"


@pytest.fixture
def registry(client: httpx.Client) -> RegistryHTTP:
    return RegistryHTTP(client)
