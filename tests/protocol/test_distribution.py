"""The OCI distribution protocol, in process (see conftest.py): uploads, manifests, tags,
the catalog and the error envelope."""

from __future__ import annotations

import hashlib
import json
import uuid

import httpx
import pytest

pytestmark = pytest.mark.anyio

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def fresh_repo() -> str:
    return f"protocol/{uuid.uuid4().hex[:10]}"


def codes(resp: httpx.Response) -> list[str]:
    return [error["code"] for error in resp.json()["errors"]]


async def push_blob(http: httpx.AsyncClient, repo: str, data: bytes) -> str:
    started = await http.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = await http.put(
        started.headers["Location"], params={"digest": digest(data)}, content=data
    )
    assert done.status_code == 201, done.text
    return digest(data)


async def push_image(http: httpx.AsyncClient, repo: str, tag: str) -> tuple[str, bytes]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    layer = uuid.uuid4().bytes * 100
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": CONFIG_TYPE,
                "digest": await push_blob(http, repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": LAYER_TYPE,
                    "digest": await push_blob(http, repo, layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = await http.put(
        f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": MANIFEST_TYPE}
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest(manifest)
    return digest(manifest), manifest


async def test_version_check(http: httpx.AsyncClient) -> None:
    resp = await http.get("/v2/")
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_chunked_upload_then_ranged_pull(http: httpx.AsyncClient) -> None:
    repo, data = fresh_repo(), bytes(range(256)) * 40
    started = await http.post(f"/v2/{repo}/blobs/uploads/")
    location = started.headers["Location"]
    first = await http.patch(
        location,
        content=data[:4000],
        headers={"Content-Range": "0-3999", "Content-Type": "application/octet-stream"},
    )
    assert first.status_code == 202, first.text
    assert first.headers["Range"] == "0-3999"
    # A chunk that does not start where the upload ends: 416, with the upload's progress.
    gap = await http.patch(
        first.headers["Location"], content=b"x", headers={"Content-Range": "5000-5000"}
    )
    assert gap.status_code == 416
    assert gap.headers["Range"] == "0-3999"
    done = await http.put(
        first.headers["Location"], params={"digest": digest(data)}, content=data[4000:]
    )
    assert done.status_code == 201, done.text
    blob = await http.get(f"/v2/{repo}/blobs/{digest(data)}", headers={"Range": "bytes=10-19"})
    assert blob.status_code == 206
    assert blob.content == data[10:20]
    head = await http.head(f"/v2/{repo}/blobs/{digest(data)}")
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == len(data)


async def test_a_wrong_digest_is_refused_and_nothing_is_stored(http: httpx.AsyncClient) -> None:
    repo = fresh_repo()
    started = await http.post(f"/v2/{repo}/blobs/uploads/")
    wrong = digest(b"something else")
    put = await http.put(started.headers["Location"], params={"digest": wrong}, content=b"data")
    assert put.status_code == 400
    assert codes(put) == ["DIGEST_INVALID"]
    assert (await http.head(f"/v2/{repo}/blobs/{wrong}")).status_code == 404


async def test_manifest_by_tag_and_digest_tags_and_catalog(http: httpx.AsyncClient) -> None:
    repo = fresh_repo()
    manifest_digest, manifest = await push_image(http, repo, "v1")
    await push_image(http, repo, "v2")
    by_tag = await http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_TYPE})
    assert by_tag.status_code == 200
    assert by_tag.content == manifest
    assert by_tag.headers["Content-Type"] == MANIFEST_TYPE
    by_digest = await http.head(f"/v2/{repo}/manifests/{manifest_digest}")
    assert by_digest.headers["Docker-Content-Digest"] == manifest_digest
    tags = await http.get(f"/v2/{repo}/tags/list", params={"n": "1"})
    assert tags.json() == {"name": repo, "tags": ["v1"]}
    assert 'rel="next"' in tags.headers["Link"]
    catalog = await http.get("/v2/_catalog")
    assert repo in catalog.json()["repositories"]
    deleted = await http.delete(f"/v2/{repo}/manifests/{manifest_digest}")
    assert deleted.status_code == 202
    gone = await http.get(f"/v2/{repo}/manifests/v1")
    assert gone.status_code == 404
    assert codes(gone) == ["MANIFEST_UNKNOWN"]


async def test_errors_use_the_oci_envelope(http: httpx.AsyncClient) -> None:
    repo = fresh_repo()
    no_repository = await http.get(f"/v2/{repo}/manifests/latest")
    assert no_repository.status_code == 404
    assert no_repository.headers["Content-Type"] == "application/json"
    assert codes(no_repository) == ["NAME_UNKNOWN"]
    await push_image(http, repo, "v1")
    unknown = await http.get(f"/v2/{repo}/manifests/latest")
    assert codes(unknown) == ["MANIFEST_UNKNOWN"]
    # HEAD: the same status, no body.
    head = await http.head(f"/v2/{repo}/manifests/latest")
    assert (head.status_code, head.content) == (404, b"")
    invalid = await http.get("/v2/UPPER/manifests/latest")
    assert invalid.status_code in (400, 404)
    assert codes(invalid)[0] in ("NAME_INVALID", "NAME_UNKNOWN")
    bad_manifest = await http.put(
        f"/v2/{repo}/manifests/v1", content=b"{not json", headers={"Content-Type": MANIFEST_TYPE}
    )
    assert bad_manifest.status_code == 400
    assert codes(bad_manifest) == ["MANIFEST_INVALID"]
    blob = await http.get(f"/v2/{repo}/blobs/{digest(b'absent')}")
    assert blob.status_code == 404
    assert codes(blob) == ["BLOB_UNKNOWN"]
    nowhere = await http.get("/no/such/endpoint")
    assert nowhere.status_code == 404
    assert "errors" in nowhere.json()
