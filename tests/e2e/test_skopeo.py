"""skopeo copies in both directions: docker-archive / OCI layout -> Dockyard -> OCI layout / dir."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.helpers import (
    OCI_INDEX,
    Image,
    RegistryHTTP,
    Tool,
    canonical_json,
    make_image,
    make_tar,
    oci_blob,
    read_oci_layout,
    sha256_digest,
    write_oci_layout,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e

TLS_OFF = ("--src-tls-verify=false", "--dest-tls-verify=false")


def test_docker_archive_to_registry_to_oci_and_dir(
    server: ServerProcess,
    docker_cli: Tool,
    base_image: str,
    skopeo: Tool,
    registry: RegistryHTTP,
    repo: str,
    tmp_path: Path,
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("layer a\n")
    (ctx / "b.txt").write_text("layer b\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {base_image}\nCOPY a.txt /srv/a.txt\nCOPY b.txt /srv/b.txt\n"
    )
    local = f"dockyard-e2e/skopeo-src:{repo.rsplit('/', 1)[-1]}"
    archive = tmp_path / "image.tar"
    docker_cli("build", "--network", "none", "-t", local, str(ctx))
    try:
        image_id = docker_cli("image", "inspect", "--format", "{{.Id}}", local).strip()
        docker_cli("save", "-o", str(archive), local)
    finally:
        docker_cli.run("rmi", "-f", local, check=False)

    dest = f"docker://{server.host}/{repo}:archive"
    skopeo("copy", *TLS_OFF, f"docker-archive:{archive}", dest)

    # The image config survives unchanged (its digest is docker's image ID), and every
    # compressed layer skopeo produced decompresses to the config's diff_id.
    manifest_resp = registry.get_manifest(repo, "archive")
    manifest = manifest_resp.json()
    manifest_digest = manifest_resp.headers["Docker-Content-Digest"]
    assert manifest["config"]["digest"] == image_id
    config_bytes = registry.get_blob(repo, image_id)
    diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
    assert len(manifest["layers"]) == 3
    for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
        blob = registry.get_blob(repo, layer["digest"])
        assert sha256_digest(gzip.decompress(blob)) == diff_id

    # registry -> dir: manifest bytes and blobs unchanged.
    dir_out = tmp_path / "dir-out"
    skopeo("copy", *TLS_OFF, dest, f"dir:{dir_out}")
    assert sha256_digest((dir_out / "manifest.json").read_bytes()) == manifest_digest
    assert (dir_out / image_id.split(":", 1)[1]).read_bytes() == config_bytes
    for layer in manifest["layers"]:
        data = (dir_out / layer["digest"].split(":", 1)[1]).read_bytes()
        assert sha256_digest(data) == layer["digest"]

    # registry -> OCI layout: converted to an OCI manifest and config (so new digests for
    # those), but the very same layer blobs and diff_ids.
    oci_out = tmp_path / "oci-out"
    skopeo("copy", *TLS_OFF, dest, f"oci:{oci_out}:archive")
    _, oci_manifest = read_oci_layout(oci_out, "archive")
    oci_config = json.loads(oci_blob(oci_out, oci_manifest["config"]["digest"]))
    assert oci_config["rootfs"]["diff_ids"] == diff_ids
    for layer in oci_manifest["layers"]:
        oci_blob(oci_out, layer["digest"])  # present and intact
    assert [entry["digest"] for entry in oci_manifest["layers"]] == [
        entry["digest"] for entry in manifest["layers"]
    ]


def test_oci_layout_roundtrip_preserves_digests(
    server: ServerProcess,
    skopeo: Tool,
    registry: RegistryHTTP,
    repo: str,
    busybox_rootfs: Path,
    tmp_path: Path,
) -> None:
    image = make_image(
        [busybox_rootfs.read_bytes(), make_tar({"srv/hello.txt": b"hello oci\n"})],
        annotations={"org.opencontainers.image.title": "dockyard e2e"},
    )
    src = tmp_path / "src"
    write_oci_layout(src, "v1", image.body, image.blobs)

    dest = f"docker://{server.host}/{repo}:v1"
    skopeo("copy", *TLS_OFF, "--preserve-digests", f"oci:{src}:v1", dest)
    got = registry.get_manifest(repo, "v1")
    assert got.content == image.body
    assert got.headers.get("Docker-Content-Digest") == image.digest
    for blob in image.blobs:
        assert registry.get_blob(repo, blob.digest) == blob.data

    out = tmp_path / "out"
    skopeo("copy", *TLS_OFF, "--preserve-digests", dest, f"oci:{out}:v1")
    digest, manifest = read_oci_layout(out, "v1")
    assert digest == image.digest
    assert oci_blob(out, digest) == image.body
    for blob in image.blobs:
        assert oci_blob(out, blob.digest) == blob.data
    assert manifest["annotations"] == {"org.opencontainers.image.title": "dockyard e2e"}


def test_oci_index_copy_all_roundtrip(
    server: ServerProcess,
    skopeo: Tool,
    registry: RegistryHTTP,
    repo: str,
    busybox_rootfs: Path,
    tmp_path: Path,
) -> None:
    base = busybox_rootfs.read_bytes()
    images: list[tuple[str, Image]] = [
        (arch, make_image([base, make_tar({"etc/arch": arch.encode()})], architecture=arch))
        for arch in ("amd64", "arm64")
    ]
    index_body = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                image.descriptor(platform={"architecture": arch, "os": "linux"})
                for arch, image in images
            ],
        }
    )
    src = tmp_path / "src"
    write_oci_layout(src, "multi", index_body, [b for _, image in images for b in image.blobs])
    for _, image in images:  # child manifests are blobs of the layout too
        (src / "blobs" / "sha256" / image.digest.split(":", 1)[1]).write_bytes(image.body)

    dest = f"docker://{server.host}/{repo}:multi"
    skopeo("copy", *TLS_OFF, "--all", "--preserve-digests", f"oci:{src}:multi", dest)
    got = registry.get_manifest(repo, "multi")
    assert got.content == index_body
    assert got.headers["Content-Type"].startswith(OCI_INDEX)
    for _, image in images:
        assert registry.get_manifest(repo, image.digest).content == image.body

    out = tmp_path / "out"
    skopeo("copy", *TLS_OFF, "--all", "--preserve-digests", dest, f"oci:{out}:multi")
    digest, _ = read_oci_layout(out, "multi")
    assert digest == sha256_digest(index_body)
    for _, image in images:
        assert oci_blob(out, image.digest) == image.body
        for blob in image.blobs:
            assert hashlib.sha256(oci_blob(out, blob.digest)).hexdigest() == blob.digest[7:]


def test_pushed_image_survives_server_restart(
    server_factory: Callable[..., ServerProcess],
    skopeo: Tool,
    busybox_rootfs: Path,
    tmp_path: Path,
) -> None:
    """Push to a fresh two-worker server, restart it, and pull the same bytes back."""
    srv = server_factory(workers=2)
    image = make_image(
        [busybox_rootfs.read_bytes(), make_tar({"srv/restart.txt": b"still here\n"})]
    )
    src = tmp_path / "src"
    write_oci_layout(src, "v1", image.body, image.blobs)
    ref = f"docker://{srv.host}/e2e/restart:v1"
    skopeo("copy", *TLS_OFF, "--preserve-digests", f"oci:{src}:v1", ref)

    srv.restart()

    raw = skopeo("inspect", "--tls-verify=false", "--raw", ref)
    assert sha256_digest(raw.encode()) == image.digest
    out = tmp_path / "out"
    skopeo("copy", *TLS_OFF, "--preserve-digests", ref, f"oci:{out}:v1")
    digest, _ = read_oci_layout(out, "v1")
    assert digest == image.digest
    for blob in image.blobs:
        assert oci_blob(out, blob.digest) == blob.data
