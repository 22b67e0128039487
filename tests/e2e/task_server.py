"""The server of the multi-step task suites: auth on, both engines, short timeouts allowed,
and the offline busybox base pushed as `base/busybox:1`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import RegistryHTTP, busybox_rootfs_tar, make_image
from tests.integration.auth_helpers import AuthServer, start_auth_server


def task_step_server(data_dir: Path) -> Iterator[AuthServer]:
    """For a module fixture: `yield from task_step_server(tmp_path_factory.mktemp(...))`."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed (scripts/test.sh installs it)", pytrace=False)
    server = start_auth_server(
        data_dir,
        DOCKYARD_TASK_MIN_TIMEOUT_SECONDS="5",
        DOCKYARD_TASK_ENGINES='["buildah", "docker"]',
        DOCKER_BUILDKIT="0",
    )
    with httpx.Client(base_url=server.url, timeout=120, headers=server.owner()) as http:
        RegistryHTTP(http).push_image("base/busybox", "1", make_image([busybox_rootfs_tar()]))
    yield server
    server.close()


def owner_client(srv: AuthServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=120, headers=srv.owner()) as client:
        yield client
