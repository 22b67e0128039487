"""Helpers for the end-to-end suite: running real client tools and building tiny images.

Everything here works offline: images are made from the host's static busybox binary and
pushed either with real clients (docker, skopeo, buildah, podman, oras) or, for content the
clients cannot produce (foreign layers, Helm charts), with plain HTTP calls that follow the
OCI distribution spec.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])

# Applets linked into the offline base image; all are in Debian's busybox-static.
BUSYBOX_APPLETS = (
    "sh", "ash", "ls", "cat", "echo", "mkdir", "cp", "mv", "rm", "ln", "chmod", "touch",
    "true", "false", "test", "[", "sleep", "env", "find", "grep", "sed", "head", "tail",
    "wc", "sha256sum", "id", "printf", "tar", "gzip", "uname", "pwd", "sort",
)  # fmt: skip

DEFAULT_TIMEOUT = 300.0


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Stable JSON bytes, so that a digest computed here is the digest of what is pushed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _tail(text: str, limit: int = 6000) -> str:
    text = text.strip()
    return text if len(text) <= limit else f"...[{len(text) - limit} chars cut]...\n{text[-limit:]}"


def format_result(result: subprocess.CompletedProcess[str], what: str = "") -> str:
    cmd = " ".join(str(a) for a in result.args)
    head = f"{what}: " if what else ""
    return (
        f"{head}command exited {result.returncode}: {cmd}\n"
        f"--- stdout ---\n{_tail(result.stdout or '')}\n"
        f"--- stderr ---\n{_tail(result.stderr or '')}"
    )


def require_tool(name: str) -> str:
    """Path of a client tool; a missing tool fails the test (never skips)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"required tool {name!r} is not installed (scripts/test.sh installs it); "
            "real-client tests must not be skipped",
            pytrace=False,
        )
    return path


@dataclass
class Tool:
    """A real command-line client run with fixed leading arguments (e.g. storage options)."""

    name: str
    path: str
    base_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def run(
        self,
        *args: str | os.PathLike[str],
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        cwd: str | os.PathLike[str] | None = None,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.path, *self.base_args, *(str(a) for a in args)]
        full_env = dict(os.environ)
        full_env.update(self.env)
        if env:
            full_env.update(env)
        try:
            result = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=cwd,
                input=input,
                env=full_env,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
            pytest.fail(
                f"{self.name} timed out after {timeout}s: {' '.join(cmd)}\n"
                f"--- stdout ---\n{_tail(out)}\n--- stderr ---\n{_tail(err)}",
                pytrace=False,
            )
        if check and result.returncode != 0:
            pytest.fail(format_result(result, self.name), pytrace=False)
        return result

    def __call__(self, *args: str | os.PathLike[str], **kwargs: Any) -> str:
        """Run and return stdout; fail the test with stdout/stderr shown on non-zero exit."""
        return self.run(*args, **kwargs).stdout


# --------------------------------------------------------------------------------------
# Tiny offline images
# --------------------------------------------------------------------------------------

FIXED_MTIME = 1_700_000_000


def _tar_add(
    tar: tarfile.TarFile,
    name: str,
    *,
    data: bytes | None = None,
    mode: int = 0o644,
    kind: bytes = tarfile.REGTYPE,
    linkname: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = mode
    info.type = kind
    info.linkname = linkname
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def make_tar(files: Mapping[str, bytes], *, dirs: Sequence[str] = ()) -> bytes:
    """A deterministic uncompressed tar of the given files (parents created as needed)."""
    buf = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        wanted = list(dirs)
        for path in files:
            parts = path.split("/")[:-1]
            wanted.extend("/".join(parts[: i + 1]) for i in range(len(parts)))
        for d in wanted:
            if d and d not in seen:
                seen.add(d)
                _tar_add(tar, d, mode=0o755, kind=tarfile.DIRTYPE)
        for path, data in files.items():
            _tar_add(tar, path, data=data)
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def find_static_busybox() -> Path:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.is_file():
            return path
    found = shutil.which("busybox")
    if found is None:
        pytest.fail(
            "busybox-static is not installed (apt-get install busybox-static); "
            "the offline base image is built from it",
            pytrace=False,
        )
    return Path(found)


def busybox_rootfs_tar(extra_files: Mapping[str, bytes] | None = None) -> bytes:
    """A deterministic, uncompressed root filesystem tar: static busybox plus applet links."""
    busybox = find_static_busybox().read_bytes()
    if b"/lib64/ld-linux" in busybox[:4096] or b"ld-linux-x86-64.so" in busybox[:8192]:
        pytest.fail(
            "busybox is dynamically linked; install busybox-static so that it runs in an "
            "image without libc",
            pytrace=False,
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "root", "tmp", "var", "dev", "proc", "sys"):
            _tar_add(tar, d, mode=0o1777 if d == "tmp" else 0o755, kind=tarfile.DIRTYPE)
        _tar_add(tar, "bin/busybox", data=busybox, mode=0o755)
        for applet in BUSYBOX_APPLETS:
            _tar_add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, linkname="busybox", mode=0o777)
        _tar_add(tar, "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n")
        _tar_add(tar, "etc/group", data=b"root:x:0:\n")
        for name, data in (extra_files or {}).items():
            _tar_add(tar, name, data=data)
    return buf.getvalue()


def tar_members(tar_bytes: bytes) -> dict[str, bytes | None]:
    """Member name -> content (None for non-regular files) of a tar or tar.gz."""
    if tar_bytes[:2] == b"\x1f\x8b":
        tar_bytes = gzip.decompress(tar_bytes)
    out: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for member in tar.getmembers():
            name = member.name.lstrip("./") if member.name not in (".", "./") else "."
            if member.isfile():
                fh = tar.extractfile(member)
                out[name] = fh.read() if fh is not None else b""
            else:
                out[name] = None
    return out


@dataclass
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        desc.update(extra)
        return desc


def image_config(
    diff_ids: Sequence[str],
    *,
    os_name: str = "linux",
    architecture: str = "amd64",
    cmd: Sequence[str] = ("sh",),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": os_name,
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": list(cmd), "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "dockyard e2e"}],
    }
    if extra:
        config.update(extra)
    return config


# --------------------------------------------------------------------------------------
# Plain HTTP pushes (OCI distribution spec)
# --------------------------------------------------------------------------------------


@dataclass
class RegistryHTTP:
    """Minimal distribution-spec client used where no real client can produce the content."""

    http: httpx.Client

    def _absolute(self, location: str) -> str:
        return urljoin(str(self.http.base_url), location)

    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256_digest(data)
        start = self.http.post(f"/v2/{name}/blobs/uploads/")
        assert start.status_code == 202, (
            f"POST /v2/{name}/blobs/uploads/ -> {start.status_code} {start.text}"
        )
        location = start.headers.get("Location")
        assert location, f"upload start response has no Location header: {start.headers}"
        url = self._absolute(location)
        sep = "&" if "?" in url else "?"
        done = self.http.put(
            f"{url}{sep}digest={digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, (
            f"PUT {url} (finish upload) -> {done.status_code} {done.text}"
        )
        assert done.headers.get("Docker-Content-Digest", digest) == digest
        return digest

    def push_blobs(self, name: str, *blobs: Blob) -> None:
        for blob in blobs:
            self.push_blob(name, blob.data)

    def put_manifest(self, name: str, reference: str, body: bytes, media_type: str) -> str:
        resp = self.http.put(
            f"/v2/{name}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
        )
        assert resp.status_code == 201, (
            f"PUT /v2/{name}/manifests/{reference} ({media_type}) -> {resp.status_code} {resp.text}"
        )
        digest = sha256_digest(body)
        returned = resp.headers.get("Docker-Content-Digest")
        assert returned == digest, f"Docker-Content-Digest {returned!r} != {digest}"
        return digest

    def get_manifest(
        self, name: str, reference: str, accept: str = MANIFEST_ACCEPT
    ) -> httpx.Response:
        resp = self.http.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": accept})
        assert resp.status_code == 200, (
            f"GET /v2/{name}/manifests/{reference} -> {resp.status_code} {resp.text}"
        )
        return resp

    def get_blob(self, name: str, digest: str) -> bytes:
        resp = self.http.get(f"/v2/{name}/blobs/{digest}", follow_redirects=True)
        assert resp.status_code == 200, f"GET /v2/{name}/blobs/{digest} -> {resp.status_code}"
        assert sha256_digest(resp.content) == digest, f"blob {digest} content does not match"
        return resp.content

    def push_image(self, name: str, reference: str | None, image: Image) -> str:
        """Push an image's blobs then its manifest (by digest when reference is None)."""
        self.push_blobs(name, *image.blobs)
        return self.put_manifest(name, reference or image.digest, image.body, image.media_type)


@dataclass
class Image:
    """A single-platform image: manifest bytes plus the blobs it references."""

    body: bytes
    media_type: str
    config: Blob
    layers: list[Blob]

    @property
    def digest(self) -> str:
        return sha256_digest(self.body)

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.body),
        }
        desc.update(extra)
        return desc


def make_image(
    layers: Sequence[bytes],
    *,
    docker: bool = False,
    os_name: str = "linux",
    architecture: str = "amd64",
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """An image of the given uncompressed layer tars (gzipped here), OCI or Docker schema2."""
    layer_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    gz = [Blob(gzip_bytes(layer), layer_type) for layer in layers]
    diff_ids = [sha256_digest(layer) for layer in layers]
    config = Blob(
        canonical_json(image_config(diff_ids, os_name=os_name, architecture=architecture)),
        DOCKER_CONFIG if docker else OCI_CONFIG,
    )
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [blob.descriptor() for blob in gz],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    return Image(canonical_json(manifest), media_type, config, gz)


def read_oci_layout(path: Path, tag: str | None = None) -> tuple[str, dict[str, Any]]:
    """(digest, manifest-or-index) for the single (or tagged) top entry of an OCI layout."""
    index = json.loads((path / "index.json").read_text())
    entries = index["manifests"]
    if tag is not None:
        entries = [
            e
            for e in entries
            if (e.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag
        ]
    assert len(entries) == 1, f"expected one entry for {tag!r} in {path}/index.json: {index}"
    digest = entries[0]["digest"]
    return digest, json.loads(oci_blob(path, digest))


def oci_blob(path: Path, digest: str) -> bytes:
    algo, hexpart = digest.split(":", 1)
    data = (path / "blobs" / algo / hexpart).read_bytes()
    assert sha256_digest(data) == digest, f"blob {digest} in {path} is corrupt"
    return data


def write_oci_layout(path: Path, tag: str, manifest_body: bytes, blobs: Sequence[Blob]) -> str:
    """Write an OCI image layout holding one manifest (tagged) and its blobs."""
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for data in [manifest_body, *(b.data for b in blobs)]:
        (blob_dir / hashlib.sha256(data).hexdigest()).write_bytes(data)
    digest = sha256_digest(manifest_body)
    media_type = json.loads(manifest_body).get("mediaType", OCI_MANIFEST)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(manifest_body),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps(index))
    return digest
