"""With online GC sweeping constantly (grace 0), everything still referenced stays pullable.

Index children and referrers are untagged manifests, and an upload session in progress is not
a blob yet: none of them may be collected while something still points at them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    assert_status,
    describe,
    image_manifest,
    index_manifest,
    location,
    push,
    random_bytes,
    sha256,
    start_upload,
    with_query,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

GC_ENV = {
    "DOCKYARD_GC_ENABLED": "true",
    "DOCKYARD_GC_GRACE_SECONDS": "0",
    "DOCKYARD_GC_INTERVAL_SECONDS": "0.3",
}
SWEEP_WAIT = 2.5  # several GC intervals


@pytest.fixture
def gc_server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    return server_factory(workers=2, env=GC_ENV)


def assert_pullable(http: httpx.Client, repo: str, manifest: Pushed) -> None:
    resp = http.get(f"/v2/{repo}/manifests/{manifest.digest}", headers={"Accept": "*/*"})
    assert_status(resp, 200)
    assert resp.content == manifest.body, describe(resp)
    for digest in manifest.blobs:
        blob = http.get(f"/v2/{repo}/blobs/{digest}")
        assert_status(blob, 200)
        assert sha256(blob.content) == digest


def test_referenced_content_survives_sweeps(gc_server: ServerProcess) -> None:
    repo = "gc/keep"
    with httpx.Client(base_url=gc_server.url, timeout=60) as http:
        # Blobs are pushed and referenced immediately: with grace 0 a sweep in between could
        # legitimately take a blob not referenced yet, so such a push is retried from scratch.
        def push_retry(build: Callable[[], Pushed], tag: str | None = None) -> Pushed:
            resp: httpx.Response | None = None
            for _ in range(5):
                manifest = build()
                resp = http.put(
                    f"/v2/{repo}/manifests/{tag or manifest.digest}",
                    content=manifest.body,
                    headers={"Content-Type": manifest.media_type},
                )
                if resp.status_code == 201:
                    return manifest
            assert resp is not None
            raise AssertionError("could not push while GC sweeps" + describe(resp))

        tagged = push_retry(lambda: image_manifest(http, repo), "tagged")
        child_a = push_retry(lambda: image_manifest(http, repo))
        child_b = push_retry(lambda: image_manifest(http, repo))
        index = push(http, repo, index_manifest([child_a, child_b]), "multi")
        referrer = push_retry(
            lambda: artifact_manifest(
                http,
                repo,
                artifact_type="application/vnd.example.sbom.v1",
                subject=tagged.descriptor(),
            )
        )
        time.sleep(SWEEP_WAIT)

        for manifest in (tagged, child_a, child_b, index, referrer):
            assert_pullable(http, repo, manifest)
        refs = http.get(f"/v2/{repo}/referrers/{tagged.digest}")
        assert_status(refs, 200)
        assert [d["digest"] for d in refs.json()["manifests"]] == [referrer.digest]
        got = http.get(f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_INDEX})
        assert_status(got, 200)
        got = http.get(f"/v2/{repo}/manifests/tagged", headers={"Accept": OCI_MANIFEST})
        assert_status(got, 200)


def test_upload_session_survives_sweeps(gc_server: ServerProcess) -> None:
    repo = "gc/session"
    data = random_bytes(4096)
    with httpx.Client(base_url=gc_server.url, timeout=60) as http:
        started = start_upload(http, repo)
        first = http.patch(
            location(started), content=data[:2048], headers={"Content-Range": "0-2047"}
        )
        assert_status(first, 202)
        time.sleep(SWEEP_WAIT)
        second = http.patch(
            location(first), content=data[2048:], headers={"Content-Range": "2048-4095"}
        )
        assert_status(second, 202)
        # The PUT verifies the digest of all 4096 bytes: both chunks survived the sweeps. (A
        # GET afterwards would race GC, which with no grace period may take the new blob.)
        done = http.put(with_query(location(second), [("digest", sha256(data))]))
        assert_status(done, 201)
        assert done.headers["Docker-Content-Digest"] == sha256(data)


def test_a_monolithic_push_that_pauses_survives_sweeps(gc_server: ServerProcess) -> None:
    """A monolithic push writes to a file that no session row names yet: a pause in the body
    longer than the grace period must not let GC take it for a crash's leftover."""
    data = random_bytes(256 * 1024)

    def paused_body() -> Iterator[bytes]:
        yield data[:65536]
        time.sleep(SWEEP_WAIT)
        yield data[65536:]

    with httpx.Client(base_url=gc_server.url, timeout=60) as http:
        resp = http.post(
            "/v2/gc/paused/blobs/uploads/",
            params={"digest": sha256(data)},
            content=paused_body(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert_status(resp, 201)
        assert resp.headers["Docker-Content-Digest"] == sha256(data)
