"""buildah (chroot isolation, vfs) and podman against Dockyard, with --tls-verify=false."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.helpers import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    RegistryHTTP,
    Tool,
    oci_blob,
    read_oci_layout,
    sha256_digest,
    tar_members,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e


def test_buildah_bud_from_dockyard_and_push(
    server: ServerProcess,
    buildah: Tool,
    skopeo: Tool,
    registry: RegistryHTTP,
    registry_base: str,
    busybox_rootfs: Path,
    repo: str,
    tmp_path: Path,
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "msg.txt").write_text("copied by buildah\n")
    (ctx / "Containerfile").write_text(
        f"FROM {registry_base}\n"
        "RUN echo built-by-buildah > /built.txt\n"
        "COPY msg.txt /msg.txt\n"
        'CMD ["cat", "/built.txt"]\n'
    )
    image = f"{server.host}/{repo}:buildah"
    buildah(
        "bud", "--isolation", "chroot", "--tls-verify=false", "--format", "oci",
        "--pull-always", "-t", image, "-f", str(ctx / "Containerfile"), str(ctx),
    )  # fmt: skip
    digest_file = tmp_path / "digest"
    try:
        buildah("push", "--tls-verify=false", "--digestfile", str(digest_file), image)
    finally:
        buildah.run("rmi", "-f", image, check=False)
    pushed_digest = digest_file.read_text().strip()

    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{image}")
    assert sha256_digest(raw.encode()) == pushed_digest
    resp = registry.get_manifest(repo, "buildah")
    assert resp.headers.get("Docker-Content-Digest") == pushed_digest
    manifest = resp.json()
    assert manifest["mediaType"] == OCI_MANIFEST
    assert len(manifest["layers"]) == 2, "base layer + one committed build layer"

    # Pull it back with skopeo and look inside.
    out = tmp_path / "oci"
    skopeo("copy", "--src-tls-verify=false", f"docker://{image}", f"oci:{out}:buildah")
    digest, oci_manifest = read_oci_layout(out, "buildah")
    assert digest == pushed_digest
    config = json.loads(oci_blob(out, oci_manifest["config"]["digest"]))
    assert config["config"]["Cmd"] == ["cat", "/built.txt"]
    assert config["rootfs"]["diff_ids"][0] == sha256_digest(busybox_rootfs.read_bytes())
    top = tar_members(oci_blob(out, oci_manifest["layers"][-1]["digest"]))
    assert top.get("built.txt") == b"built-by-buildah\n"
    assert top.get("msg.txt") == b"copied by buildah\n"


def test_podman_pull_push_roundtrip(
    server: ServerProcess,
    podman: Tool,
    registry: RegistryHTTP,
    registry_base: str,
    repo: str,
    tmp_path: Path,
) -> None:
    podman("pull", "--tls-verify=false", registry_base)
    oci_ref = f"{server.host}/{repo}:podman-oci"
    docker_ref = f"{server.host}/{repo}:podman-v2s2"
    podman("tag", registry_base, oci_ref, docker_ref)
    try:
        digests: dict[str, str] = {}
        for ref, fmt, media_type in (
            (oci_ref, "oci", OCI_MANIFEST),
            (docker_ref, "v2s2", DOCKER_MANIFEST),
        ):
            digest_file = tmp_path / f"digest-{fmt}"
            podman(
                "push", "--tls-verify=false", "--format", fmt,
                "--digestfile", str(digest_file), ref,
            )  # fmt: skip
            digests[ref] = digest_file.read_text().strip()
            resp = registry.get_manifest(repo, ref.rsplit(":", 1)[1])
            assert resp.headers.get("Docker-Content-Digest") == digests[ref]
            assert sha256_digest(resp.content) == digests[ref]
            assert resp.json()["mediaType"] == media_type

        podman("rmi", "-f", registry_base, oci_ref, docker_ref)
        for ref in (oci_ref, docker_ref):
            podman("pull", "--tls-verify=false", ref)
            repo_digests = json.loads(
                podman("image", "inspect", "--format", "{{json .RepoDigests}}", ref)
            )
            by_digest = f"{server.host}/{repo}@{digests[ref]}"
            assert by_digest in repo_digests, f"{ref}: {by_digest} not in {repo_digests}"
            # And pulling by digest gets the same manifest.
            podman("pull", "--tls-verify=false", by_digest)
    finally:
        podman.run("rmi", "-f", registry_base, oci_ref, docker_ref, check=False)
