"""docker build / push / pull / run against Dockyard, with a real Docker daemon."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.helpers import DOCKER_MANIFEST, RegistryHTTP, Tool, sha256_digest

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e

PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


def image_id(docker: Tool, ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref).strip()


def test_docker_build_push_pull_run(
    server: ServerProcess,
    docker_cli: Tool,
    unique_base_image: str,
    registry: RegistryHTTP,
    repo: str,
    tmp_path: Path,
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello from dockyard\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {unique_base_image}\n"
        "COPY hello.txt /data/hello.txt\n"
        "RUN echo built-by-run > /data/run.txt\n"
        "RUN mkdir -p /opt/app && echo third-layer > /opt/app/three.txt\n"
        'CMD ["cat", "/data/hello.txt"]\n'
    )
    image = f"{server.host}/{repo}:v1"
    copy_image = f"{server.host}/{repo}-copy:v1"
    nonce = docker_cli(
        "run", "--rm", "--network", "none", unique_base_image, "cat", "/etc/dockyard-nonce"
    )
    built_id = ""
    try:
        docker_cli("build", "--network", "none", "-t", image, str(ctx))
        built_id = image_id(docker_cli, image)

        push_out = docker_cli("push", image)
        match = PUSH_DIGEST.search(push_out)
        assert match, f"no digest in docker push output:\n{push_out}"
        pushed_digest, pushed_size = match.group(1), int(match.group(2))

        # The registry serves exactly what docker pushed.
        resp = registry.get_manifest(repo, "v1")
        assert resp.headers.get("Docker-Content-Digest") == pushed_digest
        assert sha256_digest(resp.content) == pushed_digest
        assert len(resp.content) == pushed_size
        manifest = resp.json()
        assert manifest["mediaType"] == DOCKER_MANIFEST
        assert resp.headers["Content-Type"].startswith(DOCKER_MANIFEST)
        assert manifest["config"]["digest"] == built_id
        assert len(manifest["layers"]) == 4, "base + COPY + 2 RUN layers expected"
        config = json.loads(registry.get_blob(repo, built_id))
        diff_ids = config["rootfs"]["diff_ids"]
        for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
            blob = registry.get_blob(repo, layer["digest"])
            assert len(blob) == layer["size"]
            assert sha256_digest(gzip.decompress(blob)) == diff_id

        # A second push of the same image is a no-op on the blobs.
        again = docker_cli("push", image)
        assert pushed_digest in again
        assert "Pushed" not in again, f"blobs were uploaded twice:\n{again}"

        # Pushing to another repository mounts the blobs across repositories.
        docker_cli("tag", image, copy_image)
        copy_out = docker_cli("push", copy_image)
        assert pushed_digest in copy_out
        assert registry.get_manifest(f"{repo}-copy", "v1").content == resp.content

        # Remove every local trace of the image and its base, then pull it back.
        docker_cli("rmi", image, copy_image)
        docker_cli("rmi", unique_base_image)
        gone = docker_cli.run("image", "inspect", built_id, check=False)
        assert gone.returncode != 0, "image still present locally after docker rmi"

        pull_out = docker_cli("pull", image)
        assert pushed_digest in pull_out
        assert pull_out.count("Pull complete") == 4, f"expected 4 layer downloads:\n{pull_out}"
        assert image_id(docker_cli, image) == built_id
        repo_digests = json.loads(
            docker_cli("image", "inspect", "--format", "{{json .RepoDigests}}", image)
        )
        assert f"{server.host}/{repo}@{pushed_digest}" in repo_digests

        out = docker_cli(
            "run", "--rm", "--network", "none", image,
            "sh", "-c", "cat /data/hello.txt /data/run.txt /opt/app/three.txt /etc/dockyard-nonce",
        )  # fmt: skip
        assert out == "hello from dockyard\nbuilt-by-run\nthird-layer\n" + nonce
        assert docker_cli("run", "--rm", "--network", "none", image) == "hello from dockyard\n"

        # Pull by digest resolves to the same image.
        by_digest = f"{server.host}/{repo}@{pushed_digest}"
        docker_cli("pull", by_digest)
        assert image_id(docker_cli, by_digest) == built_id
    finally:
        docker_cli.run("rmi", "-f", image, copy_image, check=False)
        if built_id:
            docker_cli.run("rmi", "-f", built_id, check=False)
