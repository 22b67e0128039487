"""`POST /api/v1/imports` and `dockyard import`: server-side copies from other registries.

Sources are real registries: other `dockyard serve` processes (with and without auth) and the
CNCF reference registry (Debian's `docker-registry`). A small forwarding proxy stands in front
of a source where a test needs to see the requests the importer sends, or needs the source to
fail in the middle of an import (an error answer, a cut connection, corrupted bytes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, free_port
from tests.integration.egress_helpers import Fence
from tests.integration.helpers import (
    DOCKER_FOREIGN_LAYER,
    DOCKER_MANIFEST,
    MIB,
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    assert_error,
    assert_status,
    canonical,
    describe,
    image_manifest,
    index_manifest,
    push,
    push_image,
    sha256,
    unique_digest,
)

AUTH_ENV = {"DOCKYARD_AUTH_ENABLED": "true"}
ALLOW_PRIVATE = {"DOCKYARD_IMPORT_ALLOW_PRIVATE_SOURCES": "true"}
ACCEPT_ALL = {
    "Accept": ", ".join(
        [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
    )
}
DOCKER_REGISTRY = "/usr/bin/docker-registry"
STALL_SECONDS = 3.0


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# --- servers -------------------------------------------------------------------------------


def _start(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]
) -> ServerProcess:
    server = ServerProcess(tmp_path_factory.mktemp(name), env=env)
    server.start()
    return server


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A Dockyard without auth to import from."""
    server = _start(tmp_path_factory, "import-source", {})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The Dockyard that imports, allowed to reach loopback sources (as every test here needs)."""
    server = _start(tmp_path_factory, "import-target", ALLOW_PRIVATE)
    yield server
    server.stop()


@pytest.fixture
def src(source: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=source.url, timeout=60) as http:
        yield http


@pytest.fixture
def dst(target: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.url, timeout=60) as http:
        yield http


def owner_password(server: ServerProcess) -> str:
    secret = server.data_dir / "initial-owner-password"
    deadline = time.monotonic() + 10
    while not secret.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return secret.read_text().strip()


# --- a source that can be watched and made to fail -----------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    authorization: str


@dataclass
class SourceProxy:
    """Forwards every request to `upstream`; the Host header stays the proxy's, so a token
    realm the upstream announces points back here. `faults` maps a blob digest to how its
    GET fails: `error` (a 500 answer), `truncate` (the connection closes halfway),
    `corrupt` (the right length, the wrong bytes) or `stall` (a pause halfway)."""

    upstream: str
    seen: list[Seen] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def blob_gets(self) -> list[str]:
        return [s.path for s in self.seen if s.method == "GET" and "/blobs/" in s.path]

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        self.seen.append(
            Seen(handler.command, handler.path, handler.headers.get("Authorization", ""))
        )
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in ("host", "content-length", "connection", "accept-encoding")
        }
        headers["Host"] = self.host
        resp = httpx.request(
            handler.command, self.upstream + handler.path, headers=headers, content=body, timeout=60
        )
        content = resp.content
        fault = next((f for d, f in self.faults.items() if f"/blobs/{d}" in handler.path), None)
        if fault == "error":
            content = b'{"errors":[{"code":"UNKNOWN","message":"the disk is on fire"}]}'
            handler.send_response(500)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
            return
        handler.send_response(resp.status_code)
        for key, value in resp.headers.multi_items():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if fault == "truncate":
            handler.wfile.write(content[: len(content) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        if fault == "corrupt":
            content = bytes(b ^ 0xFF for b in content)
        if fault == "stall":
            handler.wfile.write(content[: len(content) // 2])
            handler.wfile.flush()
            time.sleep(STALL_SECONDS)
            content = content[len(content) // 2 :]
        handler.wfile.write(content)


@pytest.fixture
def proxy(source: ServerProcess) -> Iterator[SourceProxy]:
    front = SourceProxy(source.url)
    yield front
    front.close()


# --- what the tests push and check ---------------------------------------------------------


@dataclass
class Graph:
    """A multi-platform index (tagged) whose first child has a referrer, which is itself
    signed: five manifests and their blobs."""

    repo: str
    tag: str
    index: Pushed
    children: list[Pushed]
    referrer: Pushed
    signature: Pushed

    @property
    def manifests(self) -> list[Pushed]:
        return [*self.children, self.referrer, self.signature, self.index]

    @property
    def blobs(self) -> list[str]:
        return list(dict.fromkeys(b for m in self.manifests for b in m.blobs))


def push_graph(client: httpx.Client, repo: str, tag: str = "v1") -> Graph:
    amd64 = push(client, repo, image_manifest(client, repo, layers=2, layer_size=3 * MIB))
    arm64 = push(client, repo, image_manifest(client, repo, layers=1, layer_size=4096))
    referrer = push(
        client,
        repo,
        artifact_manifest(
            client,
            repo,
            artifact_type="application/vnd.example.sbom.v1",
            subject=amd64.descriptor(),
        ),
    )
    signature = push(
        client,
        repo,
        artifact_manifest(
            client,
            repo,
            artifact_type="application/vnd.example.signature.v1",
            subject=referrer.descriptor(),
        ),
    )
    index = push(client, repo, index_manifest([amd64, arm64]), tag)
    return Graph(repo, tag, index, [amd64, arm64], referrer, signature)


def start_import(
    client: httpx.Client, body: dict[str, Any], **kwargs: Any
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """POST /api/v1/imports; the progress lines when it was accepted."""
    with client.stream("POST", "/api/v1/imports", json=body, timeout=120, **kwargs) as resp:
        resp.read()
    if resp.status_code != 200:
        return resp, []
    assert resp.headers["content-type"].startswith("application/x-ndjson"), describe(resp)
    lines = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    assert lines, "an import answered no lines" + describe(resp)
    return resp, lines


def imported(
    client: httpx.Client, body: dict[str, Any], **kwargs: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An import that must succeed: (the result line, every line)."""
    resp, lines = start_import(client, body, **kwargs)
    assert resp.status_code == 200, "import refused" + describe(resp)
    assert lines[-1]["event"] == "result", f"import failed: {lines[-1]}"
    assert lines[-1]["status"] == "succeeded"
    return lines[-1], lines


def failed(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """An import that starts and then fails: its error line (the OCI error envelope)."""
    resp, lines = start_import(client, body)
    assert resp.status_code == 200, "import refused before it started" + describe(resp)
    last = lines[-1]
    assert last["event"] == "error", f"expected the import to fail, it ended with {last}"
    assert isinstance(last["errors"], list)
    assert last["errors"]
    for error in last["errors"]:
        assert isinstance(error["code"], str)
        assert isinstance(error["message"], str)
    assert not any(line["event"] == "result" for line in lines)
    return last


def manifest_bytes(client: httpx.Client, repo: str, reference: str) -> httpx.Response:
    return client.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT_ALL)


def assert_copied(
    dst: httpx.Client,
    repo: str,
    manifests: list[Pushed],
    src: httpx.Client,
    src_repo: str,
    blobs: list[str],
) -> None:
    """Every manifest is in `repo` byte for byte with its media type, and every blob with
    the very bytes of the source."""
    for manifest in manifests:
        resp = manifest_bytes(dst, repo, manifest.digest)
        assert_status(resp, 200)
        assert resp.content == manifest.body, f"manifest {manifest.digest} differs"
        assert resp.headers["docker-content-digest"] == manifest.digest
        assert resp.headers["content-type"] == manifest.media_type
    for digest in blobs:
        copied = dst.get(f"/v2/{repo}/blobs/{digest}")
        assert_status(copied, 200)
        assert sha256(copied.content) == digest
        original = src.get(f"/v2/{src_repo}/blobs/{digest}")
        assert_status(original, 200)
        assert copied.content == original.content


def blob_sizes(src: httpx.Client, repo: str, blobs: list[str]) -> dict[str, int]:
    sizes = {}
    for digest in blobs:
        resp = src.head(f"/v2/{repo}/blobs/{digest}")
        assert_status(resp, 200)
        sizes[digest] = int(resp.headers["content-length"])
    return sizes


# --- imports between Dockyards -------------------------------------------------------------


def test_index_with_platforms_and_referrers_arrives_whole(
    src: httpx.Client, dst: httpx.Client, proxy: SourceProxy
) -> None:
    repo = unique("team/app")
    graph = push_graph(src, repo)
    stray = push_image(src, repo, "other")  # same repository, not part of the image
    target, mirror = unique("copies/app"), unique("mirror/app")
    images = [f"{target}:v1", f"{target}:stable", f"{mirror}:latest"]

    result, lines = imported(dst, {"source": f"{proxy.host}/{repo}:v1", "images": images})

    assert result["digest"] == graph.index.digest
    assert result["media_type"] == OCI_INDEX
    assert result["tags"] == images
    assert result["repositories"] == [target, mirror]
    assert result["manifests"] == 5
    sizes = blob_sizes(src, repo, graph.blobs)
    assert result["blobs"] == {"copied": len(graph.blobs), "present": 0, "foreign": 0}
    assert result["bytes"] == {"copied": sum(sizes.values()), "present": 0}
    assert_copied(dst, target, graph.manifests, src, repo, graph.blobs)
    assert_copied(dst, mirror, graph.manifests, src, repo, graph.blobs)
    for repository, tag in ((target, "v1"), (target, "stable"), (mirror, "latest")):
        resp = manifest_bytes(dst, repository, tag)
        assert resp.headers["docker-content-digest"] == graph.index.digest
    assert_status(manifest_bytes(dst, target, stray.digest), 404)

    # The referrers API of the copy lists what the source's listed.
    amd64 = graph.children[0]
    listed = dst.get(f"/v2/{target}/referrers/{amd64.digest}").json()["manifests"]
    assert [m["digest"] for m in listed] == [graph.referrer.digest]
    assert listed[0]["artifactType"] == "application/vnd.example.sbom.v1"
    signed = dst.get(f"/v2/{target}/referrers/{graph.referrer.digest}").json()["manifests"]
    assert [m["digest"] for m in signed] == [graph.signature.digest]

    # Progress: the plan, each blob started and done with its size, each manifest stored,
    # children before the index, which is stored (and tagged) last.
    plan = next(line for line in lines if line["event"] == "plan")
    assert plan == {
        "event": "plan",
        "manifests": 5,
        "blobs": len(graph.blobs),
        "bytes": sum(sizes.values()),
    }
    for digest, size in sizes.items():
        steps = [line for line in lines if line["event"] == "blob" and line["digest"] == digest]
        assert steps[0] == {"event": "blob", "digest": digest, "size": size, "status": "started"}
        assert steps[-1] == {
            "event": "blob",
            "digest": digest,
            "size": size,
            "status": "done",
            "bytes": size,
        }
        assert all(0 < s["bytes"] <= size for s in steps if s["status"] == "progress")
    for repository, tags in ((target, ["v1", "stable"]), (mirror, ["latest"])):
        stored = [
            line
            for line in lines
            if line["event"] == "manifest"
            and line["status"] == "stored"
            and line["repository"] == repository
        ]
        assert [s["digest"] for s in stored][-1] == graph.index.digest
        assert sorted(s["digest"] for s in stored) == sorted(m.digest for m in graph.manifests)
        assert stored[-1]["tags"] == tags
        assert all(s["tags"] == [] for s in stored[:-1])
    # Each blob was fetched once, for both repositories.
    assert len(proxy.blob_gets()) == len(graph.blobs)

    # A second import of the same image fetches no blob: they are linked from storage.
    proxy.seen.clear()
    again = unique("copies/again")
    result, lines = imported(dst, {"source": f"{proxy.host}/{repo}:v1", "images": [f"{again}:v1"]})
    assert result["blobs"] == {"copied": 0, "present": len(graph.blobs), "foreign": 0}
    assert result["bytes"] == {"copied": 0, "present": sum(sizes.values())}
    assert proxy.blob_gets() == []
    skipped = [line for line in lines if line["event"] == "blob"]
    assert {s["status"] for s in skipped} == {"skipped"}
    assert {s["reason"] for s in skipped} == {"present"}
    assert_copied(dst, again, graph.manifests, src, repo, graph.blobs)


def test_import_by_digest_and_default_targets(
    src: httpx.Client, dst: httpx.Client, source: ServerProcess
) -> None:
    repo = unique("team/bydigest")
    graph = push_graph(src, repo)
    arm64 = graph.children[1]

    # By digest without a target tag: stored untagged.
    target = unique("copies/untagged")
    result, _ = imported(
        dst, {"source": f"{source.host}/{repo}@{arm64.digest}", "images": [target]}
    )
    assert result["digest"] == arm64.digest
    assert result["tags"] == []
    assert result["manifests"] == 1
    assert_copied(dst, target, [arm64], src, repo, arm64.blobs)
    assert dst.get(f"/v2/{target}/tags/list").json()["tags"] in (None, [])

    # By digest with a tag.
    result, _ = imported(
        dst,
        {"source": f"{source.host}/{repo}@{graph.index.digest}", "images": [f"{target}:pinned"]},
    )
    assert result["digest"] == graph.index.digest
    assert (
        manifest_bytes(dst, target, "pinned").headers["docker-content-digest"] == graph.index.digest
    )

    # No images at all: the source's repository and tag.
    result, _ = imported(dst, {"source": f"{source.host}/{repo}:v1"})
    assert result["tags"] == [f"{repo}:v1"]
    assert_copied(dst, repo, graph.manifests, src, repo, graph.blobs)

    # A repository without a tag takes the source's tag.
    plain = unique("copies/plain")
    result, _ = imported(dst, {"source": f"{source.host}/{repo}:v1", "images": [plain]})
    assert result["tags"] == [f"{plain}:v1"]


def test_foreign_layers_are_not_fetched(
    src: httpx.Client, dst: httpx.Client, proxy: SourceProxy
) -> None:
    repo = unique("team/windows")
    base = image_manifest(src, repo, docker=True)
    document = base.json
    foreign_digest = unique_digest()
    document["layers"].insert(
        0,
        {
            "mediaType": DOCKER_FOREIGN_LAYER,
            "size": 5_000_000,
            "digest": foreign_digest,
            "urls": ["https://mcr.example.invalid/windows/base-layer.tar.gz"],
        },
    )
    windows = push(src, repo, Pushed(canonical(document), DOCKER_MANIFEST), "ltsc")
    target = unique("copies/windows")

    result, lines = imported(
        dst, {"source": f"{proxy.host}/{repo}:ltsc", "images": [f"{target}:ltsc"]}
    )

    assert result["blobs"] == {"copied": len(base.blobs), "present": 0, "foreign": 1}
    skipped = [
        line for line in lines if line["event"] == "blob" and line["digest"] == foreign_digest
    ]
    assert skipped == [
        {
            "event": "blob",
            "digest": foreign_digest,
            "size": 5_000_000,
            "status": "skipped",
            "reason": "foreign",
        }
    ]
    assert not [path for path in proxy.blob_gets() if foreign_digest in path]
    plan = next(line for line in lines if line["event"] == "plan")
    assert plan["bytes"] == sum(blob_sizes(src, repo, base.blobs).values())
    assert_copied(dst, target, [windows], src, repo, base.blobs)


def test_existing_tag_needs_force(
    src: httpx.Client, dst: httpx.Client, source: ServerProcess
) -> None:
    repo = unique("team/force")
    graph = push_graph(src, repo)
    target = unique("copies/force")
    existing = push_image(dst, target, "v1")

    refused = dst.post(
        "/api/v1/imports", json={"source": f"{source.host}/{repo}:v1", "images": [f"{target}:v1"]}
    )
    assert_error(refused, 409, "CONFLICT")
    assert "already exists" in refused.json()["errors"][0]["message"]
    assert manifest_bytes(dst, target, "v1").headers["docker-content-digest"] == existing.digest
    assert_status(manifest_bytes(dst, target, graph.index.digest), 404)

    # One existing tag among several refuses them all.
    refused = dst.post(
        "/api/v1/imports",
        json={"source": f"{source.host}/{repo}:v1", "images": [f"{target}:new", f"{target}:v1"]},
    )
    assert_error(refused, 409, "CONFLICT")
    assert_status(manifest_bytes(dst, target, "new"), 404)

    result, _ = imported(
        dst, {"source": f"{source.host}/{repo}:v1", "images": [f"{target}:v1"], "force": True}
    )
    assert result["digest"] == graph.index.digest
    assert manifest_bytes(dst, target, "v1").headers["docker-content-digest"] == graph.index.digest
    # The image the tag left is still there, by digest.
    assert_status(manifest_bytes(dst, target, existing.digest), 200)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("error", "UPSTREAM_UNAVAILABLE"),
        ("truncate", "UPSTREAM_UNAVAILABLE"),
        ("corrupt", "DIGEST_INVALID"),
    ],
)
def test_source_failing_midway_leaves_no_tag(
    src: httpx.Client, dst: httpx.Client, proxy: SourceProxy, fault: str, code: str
) -> None:
    repo = unique("team/flaky")
    graph = push_graph(src, repo)
    target = unique("copies/flaky")
    before = push_image(dst, target, "v1")
    broken = graph.children[0].blobs[1]  # a 3 MiB layer of the first platform
    proxy.faults[broken] = fault
    body = {
        "source": f"{proxy.host}/{repo}:v1",
        "images": [f"{target}:v1", f"{target}:new"],
        "force": True,
    }

    error = failed(dst, body)

    assert error["errors"][0]["code"] == code, error
    assert manifest_bytes(dst, target, "v1").headers["docker-content-digest"] == before.digest
    assert_status(manifest_bytes(dst, target, "new"), 404)
    for manifest in graph.manifests:
        assert_status(manifest_bytes(dst, target, manifest.digest), 404)
    assert_status(dst.head(f"/v2/{target}/blobs/{broken}"), 404)

    # Once the source is well again, the same import goes through.
    proxy.faults.clear()
    result, _ = imported(dst, body)
    assert result["digest"] == graph.index.digest
    assert_copied(dst, target, graph.manifests, src, repo, graph.blobs)


def test_a_client_that_goes_away_stops_the_import(
    src: httpx.Client, dst: httpx.Client, proxy: SourceProxy
) -> None:
    repo = unique("team/abandoned")
    graph = push_graph(src, repo)
    slow = graph.children[0].blobs[1]
    proxy.faults[slow] = "stall"
    target = unique("copies/abandoned")
    body = {"source": f"{proxy.host}/{repo}:v1", "images": [f"{target}:v1"]}
    with dst.stream("POST", "/api/v1/imports", json=body, timeout=60) as resp:
        assert_status(resp, 200)
        for line in resp.iter_lines():
            event = json.loads(line)
            if event["event"] == "blob" and event["digest"] == slow:
                assert event["status"] == "started"
                break
    # Leaving the stream closed the connection halfway through that blob; had the import gone
    # on, it would be done well within this wait.
    time.sleep(STALL_SECONDS + 4)
    assert_status(manifest_bytes(dst, target, "v1"), 404)
    for manifest in graph.manifests:
        assert_status(manifest_bytes(dst, target, manifest.digest), 404)
    later = graph.children[1].blobs[-1]  # a blob the import would have copied afterwards
    assert_status(dst.head(f"/v2/{target}/blobs/{later}"), 404)
    assert not [path for path in proxy.blob_gets() if later in path]


def test_refusals_before_the_copy(
    src: httpx.Client, dst: httpx.Client, source: ServerProcess
) -> None:
    repo = unique("team/refusals")
    push_image(src, repo, "v1")
    cases = [
        ({"source": "no-registry-here", "images": ["a:b"]}, 400, "NAME_INVALID"),
        ({"source": f"{source.host}/UPPER/case:v1"}, 400, "NAME_INVALID"),
        ({"source": f"{source.host}/{repo}:bad tag"}, 400, "TAG_INVALID"),
        ({"source": f"{source.host}/{repo}@sha256:abc"}, 400, "DIGEST_INVALID"),
        ({"source": f"{source.host}/{repo}:v1", "images": ["Bad/Name:v1"]}, 400, "NAME_INVALID"),
        (
            {"source": f"{source.host}/{repo}:v1", "images": ["ok/name:bad tag!"]},
            400,
            "TAG_INVALID",
        ),
        (
            {"source": f"{source.host}/{repo}:missing", "images": ["ok/name:v1"]},
            404,
            "MANIFEST_UNKNOWN",
        ),
        (
            {"source": f"127.0.0.1:{free_port()}/{repo}:v1", "images": ["ok/name:v1"]},
            502,
            "UPSTREAM_UNAVAILABLE",
        ),
    ]
    for body, status, code in cases:
        resp = dst.post("/api/v1/imports", json=body)
        assert_error(resp, status, code)
    assert_status(manifest_bytes(dst, "ok/name", "v1"), 404)
    assert_error(dst.post("/api/v1/imports", json={"images": ["a:b"]}), 400, "UNSUPPORTED")

    documented = dst.get("/api/v1/openapi.json").json()["paths"]["/imports"]["post"]
    assert "application/x-ndjson" in documented["responses"]["200"]["content"]
    assert {"409", "502"} <= set(documented["responses"])


def test_private_sources_are_refused_without_the_opt_in(
    server_factory: type[ServerProcess], src: httpx.Client, proxy: SourceProxy
) -> None:
    guarded = server_factory()  # import_allow_private_sources left off
    repo = unique("team/private")
    push_image(src, repo, "v1")
    with httpx.Client(base_url=guarded.url, timeout=60) as http:
        for host in (
            proxy.host,
            f"localhost:{proxy.port}",
            f"127.0.0.9:{proxy.port}",
            f"[::1]:{proxy.port}",
        ):
            resp = http.post(
                "/api/v1/imports", json={"source": f"{host}/{repo}:v1", "images": ["copied:v1"]}
            )
            errors = assert_error(resp, 403, "DENIED")
            assert "import_allow_private_sources" in errors[0]["message"], errors
        assert_status(manifest_bytes(http, "copied", "v1"), 404)
    assert proxy.seen == [], "a refused source was contacted"


def test_sources_on_addresses_that_are_not_public_are_refused_before_connecting(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Shared (carrier NAT) space with a cloud's metadata service, IETF and benchmarking
    blocks, and the IPv6 forms of private IPv4 addresses: refused, and never connected to
    (the fence would record any attempt)."""
    fence = Fence(tmp_path, {"metadata.test": [["100.100.100.200"]]})
    guarded = server_factory(env=fence.env())
    with httpx.Client(base_url=guarded.url, timeout=60) as http:
        for host in (
            "100.100.100.200",
            "100.64.0.1:5000",
            "192.0.0.8",
            "198.18.0.1",
            "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
            "[2002:c0a8:101::1]",  # 6to4 of 192.168.1.1
            "[::ffff:169.254.169.254]",
            "metadata.test",
        ):
            resp = http.post(
                "/api/v1/imports", json={"source": f"{host}/team/app:v1", "images": ["got:v1"]}
            )
            errors = assert_error(resp, 403, "DENIED")
            assert "import_allow_private_sources" in errors[0]["message"], (host, errors)
    assert fence.connects() == []


def test_import_from_a_source_with_auth_uses_the_token_flow(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    secured = server_factory(env=AUTH_ENV)
    password = owner_password(secured)
    importer = server_factory(env={**AUTH_ENV, **ALLOW_PRIVATE})
    importer_password = owner_password(importer)
    repo = unique("team/secured")
    with httpx.Client(base_url=secured.url, timeout=60, auth=("owner", password)) as src:
        graph = push_graph(src, repo)
    front = SourceProxy(secured.url)
    body: dict[str, Any] = {"source": f"{front.host}/{repo}:v1", "images": ["copied/app:v1"]}
    try:
        with httpx.Client(base_url=importer.url, timeout=60) as anonymous:
            assert_error(anonymous.post("/api/v1/imports", json=body), 401, "UNAUTHORIZED")
        with httpx.Client(
            base_url=importer.url, timeout=60, auth=("owner", importer_password)
        ) as dst:
            # Without credentials for the source, or with wrong ones, the source says no.
            resp = dst.post("/api/v1/imports", json=body)
            assert_error(resp, 403, "DENIED")
            resp = dst.post(
                "/api/v1/imports", json={**body, "username": "owner", "password": "wrong"}
            )
            assert_error(resp, 403, "DENIED")
            assert_status(manifest_bytes(dst, "copied/app", "v1"), 404)

            front.seen.clear()
            result, _ = imported(dst, {**body, "username": "owner", "password": password})
            assert result["digest"] == graph.index.digest
            with httpx.Client(base_url=secured.url, timeout=60, auth=("owner", password)) as src:
                assert_copied(dst, "copied/app", graph.manifests, src, repo, graph.blobs)
    finally:
        front.close()
    # The challenge sent the importer to the token service with Basic credentials; every
    # later request carried the Bearer token it got.
    audit = [
        json.loads(line) for line in (importer.data_dir / "audit.log").read_text().splitlines()
    ]
    done = [e for e in audit if e["event"] == "image.import"]
    assert [e["outcome"] for e in done] == ["ok"]
    assert done[0]["actor"] != "anonymous"
    assert done[0]["source"] == f"{front.host}/{repo}:v1"
    assert done[0]["digest"] == graph.index.digest
    token_requests = [s for s in front.seen if s.path.startswith("/oauth2/token")]
    assert token_requests, [s.path for s in front.seen]
    assert all(s.authorization.startswith("Basic ") for s in token_requests)
    after = front.seen[front.seen.index(token_requests[-1]) + 1 :]
    assert after
    assert all(s.authorization.startswith("Bearer ") for s in after)
    assert len([s for s in after if "/blobs/" in s.path]) == len(graph.blobs)


# --- the CNCF reference registry -----------------------------------------------------------


@pytest.fixture
def cncf_registry(tmp_path: Path) -> Iterator[str]:
    """Debian's `docker-registry` (the CNCF distribution registry) on a free port."""
    assert os.access(DOCKER_REGISTRY, os.X_OK), "install Debian's docker-registry package"
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry-data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (tmp_path / "registry.log").open("wb")
    proc = subprocess.Popen(
        [DOCKER_REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "registry.log").read_text()
            try:
                if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_import_from_the_cncf_registry(cncf_registry: str, dst: httpx.Client) -> None:
    repo = unique("cncf/app")
    with httpx.Client(base_url=f"http://{cncf_registry}", timeout=60) as reg:
        image = push_image(reg, repo, "1.0", docker=True, layers=2, layer_size=MIB)
        sbom = push(reg, repo, artifact_manifest(reg, repo, subject=image.descriptor()))
        # This registry has no referrers API: clients keep the referrers tag instead.
        fallback = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [sbom.descriptor(artifactType="application/vnd.example.artifact.v1")],
            }
        )
        hex_part = image.digest.split(":", 1)[1]
        resp = reg.put(
            f"/v2/{repo}/manifests/sha256-{hex_part}",
            content=fallback,
            headers={"Content-Type": OCI_INDEX},
        )
        assert_status(resp, 201)
        assert reg.get(f"/v2/{repo}/referrers/{image.digest}").status_code == 404

        target = unique("copies/cncf")
        result, _ = imported(
            dst, {"source": f"{cncf_registry}/{repo}:1.0", "images": [f"{target}:1.0"]}
        )

        assert result["digest"] == image.digest
        assert result["media_type"] == DOCKER_MANIFEST
        assert result["manifests"] == 2
        assert_copied(dst, target, [image, sbom], reg, repo, [*image.blobs, *sbom.blobs])
    assert manifest_bytes(dst, target, "1.0").headers["docker-content-digest"] == image.digest
    listed = dst.get(f"/v2/{target}/referrers/{image.digest}").json()["manifests"]
    assert [m["digest"] for m in listed] == [sbom.digest]
    # The referrers tag is the source's bookkeeping, not part of the image.
    assert_status(manifest_bytes(dst, target, f"sha256-{hex_part}"), 404)


# --- the command line ----------------------------------------------------------------------


@dataclass
class Cli:
    registry: ServerProcess
    password: str
    home: Path

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DOCKYARD_", "TTY_", "FORCE_COLOR"))
        }
        environ.update(
            HOME=str(self.home),
            DOCKYARD_CLI_CONFIG=str(self.home / "credentials.json"),
            COLUMNS="200",
        )
        environ.update(env)
        login = [
            "-r",
            self.registry.url,
            "--registry-username",
            "owner",
            "--registry-password",
            self.password,
        ]
        return subprocess.run(
            [sys.executable, "-m", "dockyard", "import", *args, *login],
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
        )


def test_cli_import_shows_progress_and_prints_json(
    server_factory: type[ServerProcess], src: httpx.Client, source: ServerProcess, tmp_path: Path
) -> None:
    importer = server_factory(env={**AUTH_ENV, **ALLOW_PRIVATE})
    cli = Cli(importer, owner_password(importer), tmp_path)
    repo = unique("team/cli")
    graph = push_graph(src, repo)
    target = unique("copies/cli")

    done = cli.run("--source", f"{source.host}/{repo}:v1", "--image", f"{target}:v1")
    assert done.returncode == 0, done.stderr
    for digest in graph.blobs:
        short = digest[: len("sha256:") + 12]
        assert f"copying blob {short}" in done.stderr, done.stderr
        assert f"copied blob {short}" in done.stderr, done.stderr
    assert f"stored manifest {graph.index.digest[:19]} in {target} (v1)" in done.stderr
    assert graph.index.digest in done.stdout
    assert f"{target}:v1" in done.stdout
    with httpx.Client(base_url=importer.url, timeout=60, auth=("owner", cli.password)) as dst:
        assert_copied(dst, target, graph.manifests, src, repo, graph.blobs)

    # The tag exists now: refused without --force, moved with it.
    again = cli.run(
        "--source", f"{source.host}/{repo}@{graph.children[1].digest}", "--image", f"{target}:v1"
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    forced = cli.run(
        "--source",
        f"{source.host}/{repo}@{graph.children[1].digest}",
        "--image",
        f"{target}:v1",
        "--force",
        "-o",
        "json",
    )
    assert forced.returncode == 0, forced.stderr
    result = json.loads(forced.stdout)
    assert result["event"] == "result"
    assert result["digest"] == graph.children[1].digest
    assert result["tags"] == [f"{target}:v1"]
    assert result["blobs"]["present"] == len(graph.children[1].blobs)
    assert result["blobs"]["copied"] == 0

    # On a terminal: progress bars per blob and overall.
    fresh = unique("team/cli-tty")
    image = push_image(src, fresh, "v2", layers=1, layer_size=2 * MIB)
    tty = cli.run(
        "--source",
        f"{source.host}/{fresh}:v2",
        "--image",
        f"{target}:v2",
        TTY_COMPATIBLE="1",
        TTY_INTERACTIVE="1",
    )
    assert tty.returncode == 0, tty.stderr
    assert "total" in tty.stderr
    assert "2.0/2.0 MiB" in tty.stderr, tty.stderr
    assert image.blobs[1][: len("sha256:") + 12] in tty.stderr


def _catalogs(client: httpx.Client) -> set[str]:
    """Every repository either catalog lists."""
    names: set[str] = set()
    for path in ("/v2/_catalog?n=1000", "/acr/v1/_catalog?n=1000"):
        resp = client.get(path)
        assert_status(resp, 200)
        names.update(resp.json()["repositories"])
    return names


def test_refused_or_failed_imports_leave_no_repository(
    src: httpx.Client, dst: httpx.Client, source: ServerProcess, proxy: SourceProxy
) -> None:
    repo = unique("team/leftover")
    graph = push_graph(src, repo)
    refused = unique("copies/refused")
    for body, status in [
        ({"source": f"{source.host}/{repo}:missing", "images": [f"{refused}:v1"]}, 404),
        ({"source": f"127.0.0.1:{free_port()}/{repo}:v1", "images": [f"{refused}:v1"]}, 502),
    ]:
        assert_status(dst.post("/api/v1/imports", json=body), status)

    # Midway: the first platform's layers are in (linked to both targets) when one fails.
    first, second = unique("copies/midway"), unique("copies/midway")
    existing = unique("copies/existing")
    before = push_image(dst, existing, "v1")
    proxy.faults[graph.children[1].blobs[1]] = "error"
    body = {
        "source": f"{proxy.host}/{repo}:v1",
        "images": [f"{first}:v1", f"{second}:v1", f"{existing}:v2"],
    }
    failed(dst, body)

    listed = _catalogs(dst)
    assert not {refused, first, second} & listed, listed
    assert existing in listed  # it was there before the import: it stays, as it was
    assert manifest_bytes(dst, existing, "v1").headers["docker-content-digest"] == before.digest
    for name in (first, second):
        assert_status(dst.head(f"/v2/{name}/blobs/{graph.children[0].blobs[1]}"), 404)

    # Once the source is well again, the same import creates them.
    proxy.faults.clear()
    imported(dst, body)
    assert {first, second, existing} <= _catalogs(dst)
