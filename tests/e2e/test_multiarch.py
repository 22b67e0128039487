"""A Docker manifest list with a linux/amd64 image and a windows/amd64 image on a foreign layer.

The parts are pushed over plain HTTP (no client on Linux can build a Windows image), then
read back with skopeo and pulled with docker, which must pick the linux/amd64 image.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.helpers import (
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    Blob,
    Image,
    RegistryHTTP,
    Tool,
    canonical_json,
    gzip_bytes,
    image_config,
    make_image,
    make_tar,
    sha256_digest,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e

WINDOWS_OS_VERSION = "10.0.17763.5329"
FOREIGN_URL = "https://mcr.dockyard.invalid/windows/servercore/ltsc2019-base.tar.gz"


def windows_image() -> tuple[Image, dict[str, Any]]:
    """A Windows image whose base layer is foreign (never uploaded) plus one normal layer."""
    foreign_uncompressed = b"pretend windows base layer " + uuid.uuid4().bytes
    foreign_compressed = gzip_bytes(foreign_uncompressed)
    foreign = {
        "mediaType": DOCKER_FOREIGN_LAYER,
        "size": len(foreign_compressed),
        "digest": sha256_digest(foreign_compressed),
        "urls": [FOREIGN_URL],
    }
    top_tar = make_tar({"Files/dockyard/hello.txt": b"hello windows\r\n"})
    top = Blob(gzip_bytes(top_tar), DOCKER_LAYER_GZIP)
    config = Blob(
        canonical_json(
            image_config(
                [sha256_digest(foreign_uncompressed), sha256_digest(top_tar)],
                os_name="windows",
                cmd=("cmd", "/S", "/C", "type C:\\dockyard\\hello.txt"),
                extra={"os.version": WINDOWS_OS_VERSION},
            )
        ),
        DOCKER_CONFIG,
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(),
        "layers": [foreign, top.descriptor()],
    }
    # Only the config and the normal layer are uploaded; the foreign layer lives at its URL.
    return Image(canonical_json(manifest), DOCKER_MANIFEST, config, [top]), foreign


def test_manifest_list_with_foreign_windows_layer(
    server: ServerProcess,
    registry: RegistryHTTP,
    repo: str,
    busybox_rootfs: Path,
    skopeo: Tool,
    docker_cli: Tool,
) -> None:
    marker = f"linux/amd64 {uuid.uuid4().hex}"
    linux = make_image(
        [busybox_rootfs.read_bytes(), make_tar({"etc/platform": marker.encode()})], docker=True
    )
    windows, foreign = windows_image()

    registry.push_image(repo, None, linux)
    registry.push_image(repo, None, windows)
    index_body = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [
                linux.descriptor(platform={"architecture": "amd64", "os": "linux"}),
                windows.descriptor(
                    platform={
                        "architecture": "amd64",
                        "os": "windows",
                        "os.version": WINDOWS_OS_VERSION,
                    }
                ),
            ],
        }
    )
    index_digest = registry.put_manifest(repo, "multi", index_body, DOCKER_MANIFEST_LIST)

    # Served back byte for byte, with the right media types.
    got = registry.get_manifest(repo, "multi")
    assert got.content == index_body
    assert got.headers["Content-Type"].startswith(DOCKER_MANIFEST_LIST)
    assert got.headers.get("Docker-Content-Digest") == index_digest
    win = registry.get_manifest(repo, windows.digest)
    assert win.content == windows.body
    assert win.json()["layers"][0] == foreign
    # The foreign layer was never uploaded and must not appear out of nowhere.
    head = registry.http.head(f"/v2/{repo}/blobs/{foreign['digest']}")
    assert head.status_code == 404, f"foreign blob HEAD -> {head.status_code}"

    # skopeo sees exactly the bytes we pushed (list and both children).
    ref = f"docker://{server.host}/{repo}"
    raw_index = skopeo("inspect", "--tls-verify=false", "--raw", f"{ref}:multi")
    assert sha256_digest(raw_index.encode()) == index_digest
    raw_win = skopeo("inspect", "--tls-verify=false", "--raw", f"{ref}@{windows.digest}")
    assert sha256_digest(raw_win.encode()) == windows.digest
    raw_linux = skopeo("inspect", "--tls-verify=false", "--raw", f"{ref}@{linux.digest}")
    assert sha256_digest(raw_linux.encode()) == linux.digest

    # Copy the whole list to another repository: digests preserved, foreign layer not copied.
    copy_repo = f"{repo}-all"
    skopeo(
        "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
        "--dest-tls-verify=false", f"{ref}:multi", f"docker://{server.host}/{copy_repo}:multi",
    )  # fmt: skip
    copied = registry.get_manifest(copy_repo, "multi")
    assert copied.content == index_body
    assert registry.get_manifest(copy_repo, windows.digest).content == windows.body
    assert registry.get_manifest(copy_repo, linux.digest).content == linux.body
    for blob in [*linux.blobs, *windows.blobs]:
        assert registry.get_blob(copy_repo, blob.digest) == blob.data
    head = registry.http.head(f"/v2/{copy_repo}/blobs/{foreign['digest']}")
    assert head.status_code == 404

    # docker on linux/amd64 resolves the list to the linux image.
    image = f"{server.host}/{repo}:multi"
    try:
        pull_out = docker_cli("pull", image)
        assert index_digest in pull_out
        inspect = docker_cli(
            "image", "inspect", "--format", "{{.Id}} {{.Os}}/{{.Architecture}}", image
        )
        assert inspect.split() == [linux.config.digest, "linux/amd64"]
        out = docker_cli("run", "--rm", "--network", "none", image, "cat", "/etc/platform")
        assert out == marker
    finally:
        docker_cli.run("rmi", "-f", linux.config.digest, check=False)
