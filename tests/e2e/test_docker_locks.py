"""docker push onto a locked tag, and docker pull of a read-locked image, with a real daemon."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.helpers import Tool

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e

PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


def build(docker: Tool, base: str, tag: str, text: str, folder: Path) -> None:
    folder.mkdir()
    (folder / "note.txt").write_text(text)
    (folder / "Dockerfile").write_text(f"FROM {base}\nCOPY note.txt /note.txt\n")
    docker("build", "--network", "none", "-t", tag, str(folder))


def test_docker_push_onto_a_locked_tag_fails(
    server: ServerProcess,
    docker_cli: Tool,
    base_image: str,
    client: httpx.Client,
    repo: str,
    tmp_path: Path,
) -> None:
    image = f"{server.host}/{repo}:v1"
    try:
        build(docker_cli, base_image, image, "first\n", tmp_path / "first")
        match = PUSH_DIGEST.search(docker_cli("push", image))
        assert match, "no digest in docker push output"
        first = match.group(1)
        resp = client.patch(f"/acr/v1/{repo}/_tags/v1", json={"writeEnabled": False})
        assert resp.status_code == 200, resp.text

        build(docker_cli, base_image, image, "second\n", tmp_path / "second")
        pushed = docker_cli.run("push", image, check=False)
        output = pushed.stdout + pushed.stderr
        assert pushed.returncode != 0, f"docker pushed onto a locked tag:\n{output}"
        assert "locked (writeEnabled=false)" in output, output
        tag = client.get(f"/acr/v1/{repo}/_tags/v1").json()["tag"]
        assert tag["digest"] == first

        # A read-locked repository cannot be pulled.
        resp = client.patch(f"/acr/v1/{repo}", json={"readEnabled": False})
        assert resp.status_code == 200, resp.text
        docker_cli.run("rmi", "-f", image, check=False)
        pulled = docker_cli.run("pull", image, check=False)
        assert pulled.returncode != 0, f"docker pulled a read-locked image:\n{pulled.stdout}"
        client.patch(f"/acr/v1/{repo}", json={"readEnabled": True})
        assert first in docker_cli("pull", image)
    finally:
        docker_cli.run("rmi", "-f", image, check=False)
