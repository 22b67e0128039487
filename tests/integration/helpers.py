"""Helpers for the HTTP-level registry tests: digests, blob uploads, manifests, raw requests.

Everything here speaks plain HTTP to a running `dockyard serve`, as a registry client would. Each
helper that expects a particular answer asserts it with a message that shows the whole exchange
(request line, status, headers and body), so a failing test names the server's exact response.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

# --- media types --------------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
OCI_EMPTY_DATA = b"{}"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MIB = 1024 * 1024
ERROR_CODE_RE = re.compile(r"^[A-Z_]+$")

# --- digests ------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    if algorithm == "sha256":
        return sha256(data)
    if algorithm == "sha512":
        return sha512(data)
    raise ValueError(f"unsupported algorithm {algorithm}")


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def unique_digest() -> str:
    """The sha256 digest of content that no test ever uploads."""
    return sha256(b"never-uploaded-" + uuid.uuid4().bytes)


# --- describing exchanges ---------------------------------------------------------------------


class ResponseLike(Protocol):
    """What the assertions need from a response: httpx.Response and RawResponse both fit."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> httpx.Headers: ...

    @property
    def content(self) -> bytes: ...


def describe(resp: ResponseLike, limit: int = 2000) -> str:
    """The request line and the whole response, for assertion messages and failure reports."""
    request = ""
    if isinstance(resp, httpx.Response):
        try:
            req = resp.request
            request = f"{req.method} {req.url}\n"
        except RuntimeError:
            request = ""
    elif isinstance(resp, RawResponse):
        request = f"{resp.method} {resp.target}\n"
    headers = "\n".join(f"  {k}: {v}" for k, v in resp.headers.multi_items())
    body = resp.content[:limit]
    more = f" ... ({len(resp.content)} bytes)" if len(resp.content) > limit else ""
    return f"\n{request}-> {resp.status_code}\n{headers}\n  body: {body!r}{more}"


def media_type_of(resp: ResponseLike) -> str:
    """The Content-Type without parameters, lower-cased."""
    value: str = resp.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


def error_codes(resp: ResponseLike) -> list[str]:
    body = json.loads(resp.content)
    return [str(err.get("code")) for err in body["errors"]]


def assert_envelope(resp: ResponseLike) -> list[dict[str, Any]]:
    """The body is the OCI error envelope, served as application/json; returns its errors."""
    assert media_type_of(resp) == "application/json", "error not served as JSON" + describe(resp)
    try:
        body = json.loads(resp.content)
    except ValueError as exc:
        raise AssertionError("error body is not JSON" + describe(resp)) from exc
    assert isinstance(body, dict), "error body is not an object" + describe(resp)
    errors = body.get("errors")
    assert isinstance(errors, list), "no `errors` list" + describe(resp)
    assert errors, "empty `errors` list" + describe(resp)
    for err in errors:
        assert isinstance(err, dict), "an error is not an object" + describe(resp)
        code = err.get("code")
        assert isinstance(code, str), "error without a string `code`" + describe(resp)
        assert ERROR_CODE_RE.match(code), f"bad error code {code!r}" + describe(resp)
        if "message" in err:
            assert isinstance(err["message"], str), "`message` is not a string" + describe(resp)
    return errors


def assert_error(
    resp: ResponseLike, status: int | Collection[int], *codes: str
) -> list[dict[str, Any]]:
    """`resp` is an error with one of `status` and an envelope whose codes are all in `codes`."""
    statuses = {status} if isinstance(status, int) else set(status)
    assert resp.status_code in statuses, f"expected status {sorted(statuses)}" + describe(resp)
    errors = assert_envelope(resp)
    if codes:
        got = [str(err["code"]) for err in errors]
        assert all(code in codes for code in got), f"expected codes {codes}, got {got}" + (
            describe(resp)
        )
    return errors


def assert_status(resp: ResponseLike, *statuses: int) -> None:
    assert resp.status_code in statuses, f"expected status {list(statuses)}" + describe(resp)


# --- URLs ---------------------------------------------------------------------------------------


def absolute(resp: httpx.Response, url: str) -> str:
    """Resolve a Location (absolute or relative, RFC 7231 7.1.2) against the request URL."""
    return urljoin(str(resp.request.url), url)


def location(resp: httpx.Response) -> str:
    loc = resp.headers.get("location")
    assert loc, "response has no Location header" + describe(resp)
    return absolute(resp, loc)


def with_query(url: str, params: Iterable[tuple[str, str]]) -> str:
    """Append query parameters to a URL that may already carry some (upload URLs may)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def next_link(resp: httpx.Response) -> str | None:
    """The target of a `Link: <...>; rel="next"` header (RFC 5988), or None."""
    for value in resp.headers.get_list("link"):
        for part in value.split(","):
            match = re.match(r"\s*<([^>]*)>\s*;(.*)$", part)
            if match and re.search(r'rel\s*=\s*"?next"?', match.group(2)):
                return match.group(1)
    return None


def header_values(resp: ResponseLike, name: str) -> list[str]:
    """Every comma-separated value of a (possibly repeated) header."""
    values: list[str] = []
    for value in resp.headers.get_list(name):
        values.extend(item.strip() for item in value.split(",") if item.strip())
    return values


# --- blobs --------------------------------------------------------------------------------------


def start_upload(client: httpx.Client, repo: str) -> httpx.Response:
    resp = client.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    assert_status(resp, 202)
    assert resp.headers.get("location"), "upload POST without Location" + describe(resp)
    return resp


def upload_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Upload `data` with POST then PUT (the method every registry supports); returns its digest."""
    digest = digest_of(data, algorithm)
    started = start_upload(client, repo)
    resp = client.put(
        with_query(location(started), [("digest", digest)]),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_status(resp, 201)
    return digest


def ensure_empty_blob(client: httpx.Client, repo: str) -> None:
    """Upload the OCI empty descriptor's content `{}`."""
    assert upload_blob(client, repo, OCI_EMPTY_DATA) == OCI_EMPTY_DIGEST


# --- manifests ----------------------------------------------------------------------------------


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    desc: dict[str, Any] = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
    desc.update(extra)
    return desc


@dataclass
class Pushed:
    """A manifest that a test built (and usually pushed)."""

    body: bytes
    media_type: str
    blobs: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return sha256(self.body)

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return descriptor(self.media_type, self.body, **extra)


def put_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str,
    params: Iterable[tuple[str, str]] = (),
) -> httpx.Response:
    url = with_query(f"/v2/{repo}/manifests/{reference}", params)
    return client.put(url, content=body, headers={"Content-Type": media_type})


def push(client: httpx.Client, repo: str, manifest: Pushed, reference: str | None = None) -> Pushed:
    """PUT `manifest` by `reference` (its digest when None) and require 201."""
    resp = put_manifest(
        client, repo, reference or manifest.digest, manifest.body, manifest.media_type
    )
    assert_status(resp, 201)
    return manifest


def image_manifest(
    client: httpx.Client,
    repo: str,
    *,
    layers: int = 1,
    docker: bool = False,
    config_media_type: str | None = None,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    subject: Mapping[str, Any] | None = None,
    with_media_type: bool = True,
    layer_size: int = 64,
) -> Pushed:
    """Upload a config and `layers` random layers to `repo`; return an (unpushed) manifest."""
    layer_blobs = [random_bytes(layer_size) for _ in range(layers)]
    config_obj = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"nonce": uuid.uuid4().hex}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in layer_blobs]},
    }
    config = canonical(config_obj)
    blobs = [upload_blob(client, repo, config)]
    blobs += [upload_blob(client, repo, blob) for blob in layer_blobs]
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    cfg_type = config_media_type or (DOCKER_CONFIG if docker else OCI_CONFIG)
    layer_type = DOCKER_LAYER if docker else OCI_LAYER
    obj: dict[str, Any] = {"schemaVersion": 2}
    if with_media_type:
        obj["mediaType"] = media_type
    if artifact_type is not None:
        obj["artifactType"] = artifact_type
    obj["config"] = descriptor(cfg_type, config)
    obj["layers"] = [descriptor(layer_type, blob) for blob in layer_blobs]
    if subject is not None:
        obj["subject"] = dict(subject)
    if annotations is not None:
        obj["annotations"] = dict(annotations)
    return Pushed(canonical(obj), media_type, blobs)


def artifact_manifest(
    client: httpx.Client,
    repo: str,
    *,
    artifact_type: str = "application/vnd.example.artifact.v1",
    annotations: Mapping[str, str] | None = None,
    subject: Mapping[str, Any] | None = None,
    payload: bytes | None = None,
) -> Pushed:
    """An OCI 1.1 artifact: artifactType, the empty config descriptor, one layer."""
    ensure_empty_blob(client, repo)
    data = payload if payload is not None else random_bytes(48)
    layer = upload_blob(client, repo, data)
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": OCI_EMPTY,
            "digest": OCI_EMPTY_DIGEST,
            "size": 2,
            "data": base64.b64encode(OCI_EMPTY_DATA).decode(),
        },
        "layers": [descriptor("application/vnd.example.payload.v1", data)],
    }
    if subject is not None:
        obj["subject"] = dict(subject)
    if annotations is not None:
        obj["annotations"] = dict(annotations)
    return Pushed(canonical(obj), OCI_MANIFEST, [OCI_EMPTY_DIGEST, layer])


def index_manifest(
    children: Iterable[Pushed | dict[str, Any]],
    *,
    docker: bool = False,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    subject: Mapping[str, Any] | None = None,
) -> Pushed:
    """An OCI index (or Docker manifest list) over `children` (Pushed or raw descriptors)."""
    platforms = [("amd64", "linux"), ("arm64", "linux"), ("s390x", "linux"), ("ppc64le", "linux")]
    manifests = []
    for i, child in enumerate(children):
        desc = child.descriptor() if isinstance(child, Pushed) else dict(child)
        arch, os_name = platforms[i % len(platforms)]
        desc.setdefault("platform", {"architecture": arch, "os": os_name})
        manifests.append(desc)
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    obj: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type is not None:
        obj["artifactType"] = artifact_type
    obj["manifests"] = manifests
    if subject is not None:
        obj["subject"] = dict(subject)
    if annotations is not None:
        obj["annotations"] = dict(annotations)
    return Pushed(canonical(obj), media_type)


def image_with_absent_layer(client: httpx.Client, repo: str) -> tuple[Pushed, bytes]:
    """An image manifest whose second layer was never uploaded (a sparse manifest); returns
    it and that layer."""
    manifest = image_manifest(client, repo, layers=2)
    obj = manifest.json
    absent = random_bytes(300)
    obj["layers"][1]["digest"] = sha256(absent)
    obj["layers"][1]["size"] = len(absent)
    return Pushed(canonical(obj), OCI_MANIFEST), absent


def push_image(client: httpx.Client, repo: str, tag: str | None = None, **kwargs: Any) -> Pushed:
    """Build and push an image manifest (by `tag`, or by digest when None)."""
    return push(client, repo, image_manifest(client, repo, **kwargs), tag)


# --- raw HTTP -----------------------------------------------------------------------------------


@dataclass
class RawResponse:
    """A response read off a socket: the request target is sent exactly as given."""

    method: str
    target: str
    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    rest = body
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


def raw_request(
    port: int,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 30.0,
) -> RawResponse:
    """Send one HTTP/1.1 request with the target byte-for-byte (no path normalisation)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    pairs = []
    for line in header_lines:
        key, _, value = line.partition(":")
        pairs.append((key.strip(), value.strip()))
    parsed = httpx.Headers(pairs)
    if "chunked" in parsed.get("transfer-encoding", "").lower():
        rest = _dechunk(rest)
    return RawResponse(method, target, status, parsed, rest)
