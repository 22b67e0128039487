"""Pushing, pulling and deleting manifests (end-3, end-7, end-9) of every supported kind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.integration.helpers import (
    DOCKER_FOREIGN_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    MIB,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_EMPTY_DIGEST,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_NONDISTRIBUTABLE,
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    assert_error,
    assert_status,
    canonical,
    describe,
    descriptor,
    header_values,
    image_manifest,
    index_manifest,
    location,
    media_type_of,
    push,
    push_image,
    put_manifest,
    random_bytes,
    raw_request,
    sha256,
    sha512,
    unique_digest,
    upload_blob,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

ALL_TYPES = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])
KINDS = ["oci-image", "oci-index", "docker-image", "docker-list", "oci-artifact"]


def build(kind: str, client: httpx.Client, repo: str) -> Pushed:
    """A manifest of `kind` whose blobs (and child manifests) are already in `repo`."""
    if kind == "oci-image":
        return image_manifest(client, repo, layers=2)
    if kind == "docker-image":
        return image_manifest(client, repo, layers=2, docker=True)
    if kind == "oci-artifact":
        return artifact_manifest(
            client,
            repo,
            artifact_type="application/vnd.example.sbom.v1",
            annotations={"org.example.kind": "sbom"},
        )
    if kind == "oci-index":
        children = [push(client, repo, image_manifest(client, repo)) for _ in range(2)]
        return index_manifest(children, annotations={"org.example.note": "multi-arch"})
    if kind == "docker-list":
        children = [push(client, repo, image_manifest(client, repo, docker=True)) for _ in range(2)]
        return index_manifest(children, docker=True)
    raise ValueError(kind)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def get_manifest(
    client: httpx.Client, repo: str, ref: str, accept: str = ALL_TYPES
) -> httpx.Response:
    return client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})


def head_manifest(
    client: httpx.Client, repo: str, ref: str, accept: str = ALL_TYPES
) -> httpx.Response:
    return client.head(f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})


def assert_serves(resp: httpx.Response, manifest: Pushed, *, digest: str | None = None) -> None:
    """A 200 that carries the manifest's exact bytes, media type, digest and length."""
    assert_status(resp, 200)
    assert resp.content == manifest.body, "manifest bytes changed" + describe(resp)
    assert resp.headers.get("content-type") == manifest.media_type, describe(resp)
    assert resp.headers.get("docker-content-digest") == (digest or manifest.digest), describe(resp)
    assert resp.headers.get("content-length") == str(manifest.size), describe(resp)


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    resp = client.get(f"/v2/{repo}/tags/list")
    assert_status(resp, 200)
    tags = resp.json().get("tags") or []
    return [str(tag) for tag in tags]


# --- every kind ---------------------------------------------------------------------------------


def test_put_by_tag_is_201_with_location_and_digest(
    client: httpx.Client, repo: str, kind: str
) -> None:
    manifest = build(kind, client, repo)
    resp = put_manifest(client, repo, "v1", manifest.body, manifest.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == manifest.digest, describe(resp)
    pulled = client.get(location(resp), headers={"Accept": ALL_TYPES})
    assert_serves(pulled, manifest)


def test_get_by_tag_and_digest(client: httpx.Client, repo: str, kind: str) -> None:
    manifest = push(client, repo, build(kind, client, repo), "v1")
    assert_serves(get_manifest(client, repo, "v1"), manifest)
    assert_serves(get_manifest(client, repo, manifest.digest), manifest)


def test_get_with_exact_accept_and_wildcard(client: httpx.Client, repo: str, kind: str) -> None:
    manifest = push(client, repo, build(kind, client, repo), "v1")
    assert_serves(get_manifest(client, repo, "v1", accept=manifest.media_type), manifest)
    assert_serves(get_manifest(client, repo, "v1", accept="*/*"), manifest)


def test_head_by_tag_and_digest(client: httpx.Client, repo: str, kind: str) -> None:
    manifest = push(client, repo, build(kind, client, repo), "v1")
    for ref in ("v1", manifest.digest):
        resp = head_manifest(client, repo, ref)
        assert_status(resp, 200)
        assert resp.headers.get("docker-content-digest") == manifest.digest, describe(resp)
        assert resp.headers.get("content-length") == str(manifest.size), describe(resp)
        assert resp.headers.get("content-type") == manifest.media_type, describe(resp)


def test_put_by_digest(client: httpx.Client, repo: str, kind: str) -> None:
    manifest = build(kind, client, repo)
    resp = put_manifest(client, repo, manifest.digest, manifest.body, manifest.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == manifest.digest, describe(resp)
    assert resp.headers.get("location"), describe(resp)
    assert_serves(get_manifest(client, repo, manifest.digest), manifest)


def test_delete_by_digest(client: httpx.Client, repo: str, kind: str) -> None:
    manifest = push(client, repo, build(kind, client, repo), "v1")
    resp = client.delete(f"/v2/{repo}/manifests/{manifest.digest}")
    assert_status(resp, 202)
    assert_error(get_manifest(client, repo, manifest.digest), 404, "MANIFEST_UNKNOWN")
    assert_error(get_manifest(client, repo, "v1"), 404, "MANIFEST_UNKNOWN")
    assert_status(head_manifest(client, repo, manifest.digest), 404)


# --- headers and bytes --------------------------------------------------------------------------


def test_head_manifest_sends_no_body(
    server: ServerProcess, client: httpx.Client, repo: str
) -> None:
    manifest = push_image(client, repo, "v1")
    resp = raw_request(
        server.port, "HEAD", f"/v2/{repo}/manifests/v1", headers={"Accept": ALL_TYPES}
    )
    assert_status(resp, 200)
    assert resp.headers.get("content-length") == str(manifest.size), describe(resp)
    assert resp.content == b"", describe(resp)


def test_get_without_accept_header(server: ServerProcess, client: httpx.Client, repo: str) -> None:
    """No Accept header means any type is acceptable (RFC 9110 12.5.1)."""
    for docker in (False, True):
        manifest = push_image(client, repo, "v1", docker=docker)
        resp = raw_request(server.port, "GET", f"/v2/{repo}/manifests/v1")
        assert_status(resp, 200)
        assert resp.content == manifest.body, describe(resp)
        assert resp.headers.get("content-type") == manifest.media_type, describe(resp)


def test_bytes_with_unknown_fields_and_odd_whitespace_are_preserved(
    client: httpx.Client, repo: str
) -> None:
    config = canonical(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    layer = random_bytes(100)
    upload_blob(client, repo, config)
    upload_blob(client, repo, layer)
    body = (
        '{\n  "schemaVersion" :  2 ,\n\t"mediaType":"' + OCI_MANIFEST + '",\r\n'
        '  "x-vendor-extension": {"nested": [1, 2.50, 1e3, "\\u00e9", null, true]},\n'
        '  "config": {"size": ' + str(len(config)) + ', "mediaType": "' + OCI_CONFIG + '",'
        ' "digest": "' + sha256(config) + '", "x-unknown": "kept"},\n'
        '  "layers": [ {"mediaType": "' + OCI_LAYER + '", "digest": "' + sha256(layer) + '",'
        ' "size": ' + str(len(layer)) + "} ],\n"
        '  "annotations": {"z": "last", "a": "first", "utf8": "caf\u00e9 \u2603"}\n'
        "}\n\n   "
    ).encode()
    manifest = Pushed(body, OCI_MANIFEST)
    resp = put_manifest(client, repo, "odd", body, OCI_MANIFEST)
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == sha256(body), describe(resp)
    assert_serves(get_manifest(client, repo, "odd"), manifest)
    assert_serves(get_manifest(client, repo, sha256(body)), manifest)


def test_manifest_without_media_type_field_uses_content_type(
    client: httpx.Client, repo: str
) -> None:
    manifest = image_manifest(client, repo, with_media_type=False)
    assert "mediaType" not in manifest.json
    push(client, repo, manifest, "v1")
    assert_serves(get_manifest(client, repo, "v1"), manifest)


def test_content_type_parameters_are_ignored(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    resp = put_manifest(client, repo, "v1", manifest.body, OCI_MANIFEST + "; charset=utf-8")
    assert_status(resp, 201)
    assert_serves(get_manifest(client, repo, "v1"), manifest)


def test_same_manifest_pushed_twice(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    for _ in range(2):
        resp = put_manifest(client, repo, "v1", manifest.body, manifest.media_type)
        assert_status(resp, 201)
        assert resp.headers.get("docker-content-digest") == manifest.digest, describe(resp)
    assert_serves(get_manifest(client, repo, "v1"), manifest)


def test_tag_moves_to_new_manifest(client: httpx.Client, repo: str) -> None:
    first = push_image(client, repo, "latest")
    second = push_image(client, repo, "latest")
    assert first.digest != second.digest
    assert_serves(get_manifest(client, repo, "latest"), second)
    assert_serves(get_manifest(client, repo, first.digest), first)


def test_nested_index(client: httpx.Client, repo: str) -> None:
    inner = push(client, repo, index_manifest([push_image(client, repo)]))
    outer = push(client, repo, index_manifest([inner, push_image(client, repo)]), "nested")
    assert_serves(get_manifest(client, repo, "nested"), outer)


def test_manifest_is_scoped_to_its_repository(client: httpx.Client, repo: str) -> None:
    manifest = push_image(client, repo, "v1")
    other = f"{repo}-other"
    push_image(client, other, "v1")
    assert_error(get_manifest(client, other, manifest.digest), 404, "MANIFEST_UNKNOWN")


# --- subject and tags on push -------------------------------------------------------------------


def test_subject_sets_oci_subject_header(client: httpx.Client, repo: str) -> None:
    subject = push_image(client, repo, "base")
    referrer = artifact_manifest(client, repo, subject=subject.descriptor())
    resp = put_manifest(client, repo, referrer.digest, referrer.body, referrer.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("oci-subject") == subject.digest, describe(resp)
    assert_serves(get_manifest(client, repo, referrer.digest), referrer)


def test_subject_that_does_not_exist_is_accepted(client: httpx.Client, repo: str) -> None:
    """A registry MUST accept a manifest whose subject is not (yet) in the repository."""
    missing = {"mediaType": OCI_MANIFEST, "digest": unique_digest(), "size": 1234}
    referrer = artifact_manifest(client, repo, subject=missing)
    resp = put_manifest(client, repo, referrer.digest, referrer.body, referrer.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("oci-subject") == missing["digest"], describe(resp)


def test_image_manifest_with_subject_and_tag(client: httpx.Client, repo: str) -> None:
    subject = push_image(client, repo, "base")
    referrer = image_manifest(client, repo, subject=subject.descriptor())
    resp = put_manifest(client, repo, "sig", referrer.body, referrer.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("oci-subject") == subject.digest, describe(resp)


def test_index_with_subject_sets_oci_subject_header(client: httpx.Client, repo: str) -> None:
    subject = push_image(client, repo, "base")
    index = index_manifest([push_image(client, repo)], subject=subject.descriptor())
    resp = put_manifest(client, repo, index.digest, index.body, index.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("oci-subject") == subject.digest, describe(resp)


def test_put_by_digest_with_tag_parameters(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    resp = put_manifest(
        client,
        repo,
        manifest.digest,
        manifest.body,
        manifest.media_type,
        params=[("tag", "a"), ("tag", "b")],
    )
    assert_status(resp, 201)
    assert sorted(header_values(resp, "oci-tag")) == ["a", "b"], describe(resp)
    assert_serves(get_manifest(client, repo, "a"), manifest)
    assert_serves(get_manifest(client, repo, "b"), manifest)
    assert {"a", "b"} <= set(tags_of(client, repo))


def test_put_by_digest_with_many_tag_parameters(client: httpx.Client, repo: str) -> None:
    """A registry supporting `tag` parameters SHOULD take at least 10 per request."""
    manifest = image_manifest(client, repo)
    wanted = [f"t{i:02d}" for i in range(12)]
    resp = put_manifest(
        client,
        repo,
        manifest.digest,
        manifest.body,
        manifest.media_type,
        params=[("tag", t) for t in wanted],
    )
    assert_status(resp, 201)
    assert sorted(header_values(resp, "oci-tag")) == wanted, describe(resp)
    assert sorted(tags_of(client, repo)) == wanted


def test_tag_parameters_with_sha512_digest(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    digest = sha512(manifest.body)
    resp = put_manifest(
        client, repo, digest, manifest.body, manifest.media_type, params=[("tag", "v512")]
    )
    assert_status(resp, 201)
    assert header_values(resp, "oci-tag") == ["v512"], describe(resp)
    pulled = get_manifest(client, repo, "v512")
    assert_status(pulled, 200)
    assert pulled.content == manifest.body


# --- content negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [DOCKER_MANIFEST, OCI_INDEX, "application/json"])
def test_accept_excluding_the_stored_type(client: httpx.Client, repo: str, accept: str) -> None:
    """An OCI image manifest is never served as some other type the client asked for: either
    404 MANIFEST_UNKNOWN / 406, or 200 with its own Content-Type (RFC 7231 lets a server ignore
    Accept)."""
    manifest = push_image(client, repo, "v1")
    resp = get_manifest(client, repo, "v1", accept=accept)
    if resp.status_code == 200:
        assert resp.headers.get("content-type") == OCI_MANIFEST, describe(resp)
        assert resp.content == manifest.body
    elif resp.status_code == 404:
        assert_error(resp, 404, "MANIFEST_UNKNOWN")
    else:
        assert_error(resp, 406)


def test_docker_manifest_not_served_as_oci(client: httpx.Client, repo: str) -> None:
    manifest = push_image(client, repo, "v1", docker=True)
    resp = get_manifest(client, repo, "v1", accept=OCI_MANIFEST)
    if resp.status_code == 200:
        assert resp.headers.get("content-type") == DOCKER_MANIFEST, describe(resp)
        assert resp.content == manifest.body
    elif resp.status_code == 404:
        assert_error(resp, 404, "MANIFEST_UNKNOWN")
    else:
        assert_error(resp, 406)


def test_accept_with_quality_values_and_parameters(client: httpx.Client, repo: str) -> None:
    manifest = push_image(client, repo, "v1")
    accept = f"{DOCKER_MANIFEST};q=0.9, {OCI_MANIFEST};q=0.5, {OCI_INDEX}"
    assert_serves(get_manifest(client, repo, "v1", accept=accept), manifest)


def test_accept_repeated_headers(client: httpx.Client, repo: str) -> None:
    """Docker sends one Accept header per type; they combine into one list (RFC 9110 5.3)."""
    manifest = push_image(client, repo, "v1")
    headers = httpx.Headers([("Accept", DOCKER_MANIFEST), ("Accept", OCI_MANIFEST)])
    resp = client.get(f"/v2/{repo}/manifests/v1", headers=headers)
    assert_serves(resp, manifest)


# --- unknown manifests --------------------------------------------------------------------------


def test_unknown_tag_is_404_manifest_unknown(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    assert_error(get_manifest(client, repo, "nope"), 404, "MANIFEST_UNKNOWN")
    assert_status(head_manifest(client, repo, "nope"), 404)


def test_unknown_digest_is_404_manifest_unknown(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    assert_error(get_manifest(client, repo, unique_digest()), 404, "MANIFEST_UNKNOWN")


def test_manifest_in_unknown_repository_is_404(client: httpx.Client, repo: str) -> None:
    assert_error(get_manifest(client, repo, "latest"), 404, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")


def test_blob_digest_is_not_a_manifest(client: httpx.Client, repo: str) -> None:
    digest = upload_blob(client, repo, canonical({"not": "a manifest"}))
    assert_error(get_manifest(client, repo, digest), 404, "MANIFEST_UNKNOWN")


# --- references to missing content --------------------------------------------------------------


def test_missing_layer_is_400_manifest_blob_unknown(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    obj = manifest.json
    missing = random_bytes(10)
    obj["layers"].append(descriptor(OCI_LAYER, missing))
    resp = put_manifest(client, repo, "v1", canonical(obj), OCI_MANIFEST)
    errors = assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")
    detail = errors[0].get("detail")
    if isinstance(detail, dict) and "digest" in detail:
        assert detail["digest"] == sha256(missing), describe(resp)
    assert_error(get_manifest(client, repo, "v1"), 404, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")


def test_missing_config_is_400_manifest_blob_unknown(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    obj = manifest.json
    obj["config"] = descriptor(
        OCI_CONFIG, canonical({"never": "uploaded", "n": random_bytes(8).hex()})
    )
    resp = put_manifest(client, repo, "v1", canonical(obj), OCI_MANIFEST)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")


def test_missing_docker_layer_is_400_manifest_blob_unknown(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo, docker=True)
    obj = manifest.json
    obj["layers"][0]["digest"] = unique_digest()
    resp = put_manifest(client, repo, "v1", canonical(obj), DOCKER_MANIFEST)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")


def test_layer_only_in_another_repository_is_rejected(client: httpx.Client, repo: str) -> None:
    """Blobs are linked per repository: a manifest may not reference another repository's blob
    without a mount."""
    manifest = image_manifest(client, repo)
    other = f"{repo}-nolinks"
    upload_blob(client, other, random_bytes(5))
    resp = put_manifest(client, other, "v1", manifest.body, manifest.media_type)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("docker", [False, True])
def test_index_with_missing_child_is_rejected(
    client: httpx.Client, repo: str, docker: bool
) -> None:
    present = push_image(client, repo, docker=docker)
    child_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    missing = {"mediaType": child_type, "digest": unique_digest(), "size": 999}
    index = index_manifest([present.descriptor(), missing], docker=docker)
    resp = put_manifest(client, repo, "multi", index.body, index.media_type)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")  # the spec's code, for children too
    assert_error(get_manifest(client, repo, "multi"), 404, "MANIFEST_UNKNOWN")


def test_docker_foreign_layer_accepted_without_blob(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo, docker=True)
    obj = manifest.json
    obj["layers"].insert(
        0,
        {
            "mediaType": DOCKER_FOREIGN_LAYER,
            "size": 5_000_000,
            "digest": unique_digest(),
            "urls": ["https://mcr.example.invalid/windows/base-layer.tar.gz"],
        },
    )
    foreign = Pushed(canonical(obj), DOCKER_MANIFEST)
    push(client, repo, foreign, "windows")
    assert_serves(get_manifest(client, repo, "windows"), foreign)


def test_oci_nondistributable_layer_accepted_without_blob(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    obj = manifest.json
    obj["layers"].insert(
        0,
        {
            "mediaType": OCI_LAYER_NONDISTRIBUTABLE,
            "size": 4_000_000,
            "digest": unique_digest(),
            "urls": ["https://mcr.example.invalid/windows/base-layer.tar.gz"],
        },
    )
    foreign = Pushed(canonical(obj), OCI_MANIFEST)
    push(client, repo, foreign, "windows")
    assert_serves(get_manifest(client, repo, "windows"), foreign)


# --- invalid manifests --------------------------------------------------------------------------


def _valid_obj(client: httpx.Client, repo: str) -> dict[str, Any]:
    return image_manifest(client, repo).json


def _mutate(change: Callable[[dict[str, Any]], None]) -> Callable[[httpx.Client, str], bytes]:
    def make(client: httpx.Client, repo: str) -> bytes:
        obj = _valid_obj(client, repo)
        change(obj)
        return canonical(obj)

    return make


def _const(body: bytes) -> Callable[[httpx.Client, str], bytes]:
    return lambda client, repo: body


INVALID_MANIFESTS: dict[str, Callable[[httpx.Client, str], bytes]] = {
    "not-json": _const(b"{not json"),
    "empty-body": _const(b""),
    "json-array": _const(b"[]"),
    "json-string": _const(b'"manifest"'),
    "truncated": _const(b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'"'),
    "no-config": _mutate(lambda o: o.pop("config")),
    "config-not-object": _mutate(lambda o: o.__setitem__("config", "nope")),
    "layers-not-list": _mutate(lambda o: o.__setitem__("layers", "nope")),
    "schema-version-3": _mutate(lambda o: o.__setitem__("schemaVersion", 3)),
    "schema-version-string": _mutate(lambda o: o.__setitem__("schemaVersion", "2")),
    "no-schema-version": _mutate(lambda o: o.pop("schemaVersion")),
    "layer-without-digest": _mutate(lambda o: o["layers"][0].pop("digest")),
    "layer-size-negative": _mutate(lambda o: o["layers"][0].__setitem__("size", -1)),
    "layer-size-string": _mutate(lambda o: o["layers"][0].__setitem__("size", "64")),
    "layer-not-object": _mutate(lambda o: o["layers"].append(42)),
}


@pytest.mark.parametrize("case", sorted(INVALID_MANIFESTS))
def test_invalid_manifest_is_400_manifest_invalid(
    client: httpx.Client, repo: str, case: str
) -> None:
    body = INVALID_MANIFESTS[case](client, repo)
    resp = put_manifest(client, repo, "bad", body, OCI_MANIFEST)
    assert_error(resp, 400, "MANIFEST_INVALID")
    assert_status(get_manifest(client, repo, "bad"), 404)


def test_index_with_manifests_not_a_list_is_invalid(client: httpx.Client, repo: str) -> None:
    body = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": "nope"})
    assert_error(put_manifest(client, repo, "bad", body, OCI_INDEX), 400, "MANIFEST_INVALID")


def test_layer_with_malformed_digest_is_rejected(client: httpx.Client, repo: str) -> None:
    obj = _valid_obj(client, repo)
    obj["layers"][0]["digest"] = "sha256:not-a-hex-digest"
    resp = put_manifest(client, repo, "bad", canonical(obj), OCI_MANIFEST)
    assert_error(resp, 400, "MANIFEST_INVALID", "DIGEST_INVALID")


def test_put_with_wrong_digest_is_400_digest_invalid(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    wrong = unique_digest()
    resp = put_manifest(client, repo, wrong, manifest.body, manifest.media_type)
    assert_error(resp, 400, "DIGEST_INVALID")
    assert_status(get_manifest(client, repo, wrong), 404)
    assert_status(get_manifest(client, repo, manifest.digest), 404)


def test_put_with_wrong_sha512_digest_is_400_digest_invalid(
    client: httpx.Client, repo: str
) -> None:
    manifest = image_manifest(client, repo)
    resp = put_manifest(
        client, repo, sha512(manifest.body + b" "), manifest.body, manifest.media_type
    )
    assert_error(resp, 400, "DIGEST_INVALID")


def test_put_with_malformed_digest_reference_is_rejected(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    resp = put_manifest(client, repo, "sha256:xyz", manifest.body, manifest.media_type)
    assert_error(resp, 400, "DIGEST_INVALID", "TAG_INVALID", "MANIFEST_INVALID")


def _schema1(repo: str, digest: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 1,
            "name": repo,
            "tag": "old",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": digest}],
            "history": [{"v1Compatibility": json.dumps({"id": "a" * 64})}],
            "signatures": [
                {
                    "header": {
                        "jwk": {"crv": "P-256", "kty": "EC", "x": "x", "y": "y"},
                        "alg": "ES256",
                    },
                    "signature": "c2lnbmF0dXJl",
                    "protected": "cHJvdGVjdGVk",
                }
            ],
        },
        indent=3,
    ).encode()


@pytest.mark.parametrize("media_type", [DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1])
def test_docker_schema1_is_unsupported(client: httpx.Client, repo: str, media_type: str) -> None:
    digest = upload_blob(client, repo, random_bytes(32))
    resp = put_manifest(client, repo, "old", _schema1(repo, digest), media_type)
    assert 400 <= resp.status_code < 500, describe(resp)
    assert_error(resp, resp.status_code, "UNSUPPORTED")
    assert_status(get_manifest(client, repo, "old"), 404)


# --- size limit ---------------------------------------------------------------------------------


def padded_manifest(client: httpx.Client, repo: str, total: int) -> Pushed:
    """An OCI image manifest of exactly `total` bytes (padded with an annotation)."""
    base = image_manifest(client, repo, annotations={"org.example.pad": ""})
    pad = total - len(base.body)
    assert pad > 0
    obj = base.json
    obj["annotations"]["org.example.pad"] = "x" * pad
    body = canonical(obj)
    assert len(body) == total
    return Pushed(body, OCI_MANIFEST)


def test_manifest_of_exactly_4_mib_is_accepted(client: httpx.Client, repo: str) -> None:
    manifest = padded_manifest(client, repo, 4 * MIB)
    resp = put_manifest(client, repo, "big", manifest.body, manifest.media_type)
    assert_status(resp, 201)
    assert_serves(get_manifest(client, repo, "big"), manifest)


def test_manifest_over_4_mib_is_413(client: httpx.Client, repo: str) -> None:
    manifest = padded_manifest(client, repo, 4 * MIB + 1)
    resp = put_manifest(client, repo, "huge", manifest.body, manifest.media_type)
    assert_error(resp, 413, "SIZE_INVALID", "MANIFEST_INVALID")
    # Refused by its Content-Length, before the body was parsed: the rest of the body is
    # drained (under unread_body_drain_bytes), so the connection stays open and the next
    # request on it is served.
    assert "connection" not in resp.headers, describe(resp)
    assert_status(get_manifest(client, repo, "huge"), 404)
    # An error answered after the whole body was read keeps the connection.
    invalid = put_manifest(client, repo, "broken", b"{not json", manifest.media_type)
    assert invalid.status_code == 400, describe(invalid)
    assert "connection" not in invalid.headers, describe(invalid)


def test_streamed_manifest_over_4_mib_is_413(client: httpx.Client, repo: str) -> None:
    """Without Content-Length (chunked transfer) the limit still holds."""
    manifest = padded_manifest(client, repo, 4 * MIB + 4096)

    def body() -> Iterator[bytes]:
        for i in range(0, manifest.size, 65536):
            yield manifest.body[i : i + 65536]

    resp = client.put(
        f"/v2/{repo}/manifests/huge", content=body(), headers={"Content-Type": OCI_MANIFEST}
    )
    assert_error(resp, 413, "SIZE_INVALID", "MANIFEST_INVALID")


# --- sha512 -------------------------------------------------------------------------------------


def test_sha512_manifest_digest(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    digest = sha512(manifest.body)
    resp = put_manifest(client, repo, digest, manifest.body, manifest.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == digest, describe(resp)
    assert_serves(get_manifest(client, repo, digest), manifest, digest=digest)
    head = head_manifest(client, repo, digest)
    assert_status(head, 200)
    assert head.headers.get("docker-content-digest") == digest, describe(head)
    assert_status(client.delete(f"/v2/{repo}/manifests/{digest}"), 202)
    assert_error(get_manifest(client, repo, digest), 404, "MANIFEST_UNKNOWN")


# --- delete -------------------------------------------------------------------------------------


def test_delete_by_tag_removes_only_the_tag(client: httpx.Client, repo: str) -> None:
    manifest = push_image(client, repo, "keep")
    push(client, repo, manifest, "drop")
    resp = client.delete(f"/v2/{repo}/manifests/drop")
    assert_status(resp, 202)
    assert_error(get_manifest(client, repo, "drop"), 404, "MANIFEST_UNKNOWN")
    assert_serves(get_manifest(client, repo, manifest.digest), manifest)
    assert_serves(get_manifest(client, repo, "keep"), manifest)
    assert tags_of(client, repo) == ["keep"]


def test_delete_by_digest_removes_its_tags(client: httpx.Client, repo: str) -> None:
    manifest = push_image(client, repo, "t1")
    push(client, repo, manifest, "t2")
    other = push_image(client, repo, "other")
    assert_status(client.delete(f"/v2/{repo}/manifests/{manifest.digest}"), 202)
    assert_error(get_manifest(client, repo, manifest.digest), 404, "MANIFEST_UNKNOWN")
    for tag in ("t1", "t2"):
        assert_error(get_manifest(client, repo, tag), 404, "MANIFEST_UNKNOWN")
    assert tags_of(client, repo) == ["other"]
    assert_serves(get_manifest(client, repo, "other"), other)
    assert_error(client.delete(f"/v2/{repo}/manifests/{manifest.digest}"), 404, "MANIFEST_UNKNOWN")


def test_delete_unknown_tag_is_404(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    assert_error(client.delete(f"/v2/{repo}/manifests/nope"), 404, "MANIFEST_UNKNOWN")


def test_delete_unknown_digest_is_404(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    assert_error(client.delete(f"/v2/{repo}/manifests/{unique_digest()}"), 404, "MANIFEST_UNKNOWN")


def test_deleted_manifest_can_be_pushed_again(client: httpx.Client, repo: str) -> None:
    manifest = push_image(client, repo, "v1")
    assert_status(client.delete(f"/v2/{repo}/manifests/{manifest.digest}"), 202)
    push(client, repo, manifest, "v1")
    assert_serves(get_manifest(client, repo, "v1"), manifest)


def test_artifact_with_empty_config(client: httpx.Client, repo: str) -> None:
    artifact = artifact_manifest(client, repo, artifact_type="application/vnd.example.thing.v1")
    obj = artifact.json
    assert obj["config"] == {
        "mediaType": OCI_EMPTY,
        "digest": OCI_EMPTY_DIGEST,
        "size": 2,
        "data": "e30=",
    }
    push(client, repo, artifact, "thing")
    assert_serves(get_manifest(client, repo, "thing"), artifact)
    empty = client.get(f"/v2/{repo}/blobs/{OCI_EMPTY_DIGEST}")
    assert_status(empty, 200)
    assert empty.content == b"{}"
    assert media_type_of(get_manifest(client, repo, "thing")) == OCI_MANIFEST


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_pushes_to_one_tag(client: httpx.Client, repo: str) -> None:
    """Racing PUTs of different manifests to one tag: the tag ends on one of them, and what it
    serves is self-consistent (bytes hash to Docker-Content-Digest)."""
    manifests = [image_manifest(client, repo) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda m: put_manifest(client, repo, "race", m.body, m.media_type), manifests)
        )
    for resp in results:
        assert_status(resp, 201)
    got = get_manifest(client, repo, "race")
    assert_status(got, 200)
    assert got.headers.get("docker-content-digest") == sha256(got.content), describe(got)
    assert got.content in {m.body for m in manifests}
    assert tags_of(client, repo) == ["race"]


def test_concurrent_identical_blob_uploads(client: httpx.Client, repo: str) -> None:
    data = random_bytes(200_000)
    digest = sha256(data)

    def upload(_: int) -> httpx.Response:
        return client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(upload, range(6)))
    for resp in results:
        assert_status(resp, 201)
    got = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(got, 200)
    assert got.content == data


def test_manifest_referencing_deleted_blob_is_rejected(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    layer = manifest.json["layers"][0]["digest"]
    assert_status(client.delete(f"/v2/{repo}/blobs/{layer}"), 202)
    resp = put_manifest(client, repo, "v1", manifest.body, manifest.media_type)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")


def test_manifest_referencing_unfinished_upload_is_rejected(
    client: httpx.Client, repo: str
) -> None:
    manifest = image_manifest(client, repo)
    obj = manifest.json
    pending = random_bytes(500)
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    assert_status(started, 202)
    patched = client.patch(
        location(started), content=pending, headers={"Content-Range": f"0-{len(pending) - 1}"}
    )
    assert_status(patched, 202)
    obj["layers"].append(descriptor(OCI_LAYER, pending))
    resp = put_manifest(client, repo, "v1", canonical(obj), OCI_MANIFEST)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")
