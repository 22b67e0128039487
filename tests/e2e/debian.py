"""A Debian bookworm base image that needs no public registry: a root filesystem made with
debootstrap from the host's Debian mirror (once a session), packed as one layer and pushed
into a Dockyard server as `base/debian:bookworm`.

python3-minimal alone lacks json, tarfile, gzip, urllib.request and http.server, which the
seed scenario's programs use, so libpython3.11-stdlib is included too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Blob,
    RegistryHTTP,
    canonical_json,
    format_result,
    image_config,
)

SUITE = "bookworm"
PACKAGES = ("python3-minimal", "libpython3.11-stdlib")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SOURCES_FILE = Path("/etc/apt/sources.list.d/debian.sources")
BASE_REPOSITORY, BASE_TAG = "base/debian", "bookworm"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Modules the seed programs import; checked in the new root before it is used.
# (ctypes: the Helm SDK the seed tools image adds loads Helm's library with it)
NEEDED_MODULES = (
    "urllib.request, http.server, tarfile, gzip, json, hashlib, base64, argparse, ctypes"
)
# Left out of the layer: device nodes (the runtime makes /dev), downloaded packages, indexes.
EMPTIED = ("dev", "proc", "sys", "tmp", "run", "var/cache/apt/archives", "var/lib/apt/lists")
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DebianLayer:
    """The root filesystem as one gzipped layer on disk."""

    path: Path
    digest: str  # of the gzipped bytes
    diff_id: str  # of the uncompressed tar
    size: int


def debian_mirror() -> str:
    """The first `URIs:` of the host's deb822 sources, else the public mirror's address."""
    try:
        lines = SOURCES_FILE.read_text().splitlines()
    except OSError:
        return DEFAULT_MIRROR
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "URIs" and value.split():
            return value.split()[0]
    return DEFAULT_MIRROR


def require_debootstrap() -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.access("/usr/sbin/debootstrap", os.X_OK) else None
    )
    if found is None:
        pytest.fail(
            "debootstrap is not installed (scripts/test.sh installs it); the Debian base "
            "image of the seed scenario is made with it",
            pytrace=False,
        )
    if os.geteuid() != 0:
        pytest.fail("debootstrap needs root to make the Debian root filesystem", pytrace=False)
    return found


def debootstrap(root: Path) -> None:
    """A minimal bookworm root with Python's standard library in `root`."""
    cmd = [
        require_debootstrap(),
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(root),
        debian_mirror(),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(format_result(result, "debootstrap"), pytrace=False)
    check = subprocess.run(
        ["chroot", str(root), "python3", "-c", f"import {NEEDED_MODULES}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check.returncode != 0:
        pytest.fail(format_result(check, "python3 in the new Debian root"), pytrace=False)


def _keep(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parent = member.name.rsplit("/", 1)[0] if "/" in member.name else ""
    if parent in EMPTIED:
        return None
    return member


def pack_layer(root: Path, out: Path) -> DebianLayer:
    """Tar `root` (names relative to it, sorted) and gzip it into `out`."""
    raw = out.with_suffix(".tar")
    with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(root)):
            tar.add(root / entry, arcname=entry, filter=_keep)
    diff_hash, gz_hash = hashlib.sha256(), hashlib.sha256()
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip framing
    size = 0
    with raw.open("rb") as src, out.open("wb") as dst:
        while chunk := src.read(CHUNK):
            diff_hash.update(chunk)
            packed = packer.compress(chunk)
            gz_hash.update(packed)
            size += dst.write(packed)
        packed = packer.flush()
        gz_hash.update(packed)
        size += dst.write(packed)
    raw.unlink()
    return DebianLayer(
        out, f"sha256:{gz_hash.hexdigest()}", f"sha256:{diff_hash.hexdigest()}", size
    )


@pytest.fixture(scope="session")
def debian_layer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DebianLayer]:
    """The bookworm root filesystem, made once a session (about 40 s) and packed as a layer."""
    work = tmp_path_factory.mktemp("debian")
    root = work / "root"
    debootstrap(root)
    layer = pack_layer(root, work / "rootfs.tar.gz")
    shutil.rmtree(root, ignore_errors=True)
    yield layer
    shutil.rmtree(work, ignore_errors=True)


def push_debian_base(
    http: httpx.Client,
    layer: DebianLayer,
    repository: str = BASE_REPOSITORY,
    tag: str = BASE_TAG,
    labels: dict[str, str] | None = None,
) -> str:
    """Push the layer as an OCI image `repository:tag` with a client that may push there
    (credentials in its headers); returns the manifest digest. Other labels make another
    image (digest) of the same root filesystem."""
    settings: dict[str, object] = {"Cmd": ["bash"], "Env": [PATH_ENV]}
    if labels:
        settings["Labels"] = dict(labels)
    config = Blob(
        canonical_json(image_config([layer.diff_id], cmd=("bash",), extra={"config": settings})),
        OCI_CONFIG,
    )
    registry = RegistryHTTP(http)
    registry.push_blob(repository, config.data)
    pushed = registry.push_blob(repository, layer.path.read_bytes())
    assert pushed == layer.digest
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
    }
    return registry.put_manifest(repository, tag, canonical_json(manifest), OCI_MANIFEST)
