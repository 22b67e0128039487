"""Hostile input never gets a 500 (issue #11, point 12): numbers too large for the database or
for Python's int parsing, strings the database or UTF-8 cannot hold, and a seeded fuzz run over
every endpoint family that fails on any 5xx or any traceback in the server's log."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_error,
    assert_status,
    canonical,
    describe,
    location,
    push_image,
    start_upload,
    upload_blob,
)

HUGE_DIGITS = "9" * 5000  # past Python's int-from-text limit (4300 digits)


def _log_problems(server: ServerProcess, since: int) -> list[str]:
    text = server.log()[since:]
    return [
        line
        for line in text.splitlines()
        if "Traceback" in line or "unhandled error" in line or "Logging error" in line
    ]


# --- listing `n` ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [str(2**63), str(2**64 + 5), HUGE_DIGITS, "-1", "1e3", "0x10"])
@pytest.mark.parametrize(
    "path",
    [
        "/v2/{repo}/tags/list",
        "/v2/_catalog",
        "/acr/v1/_catalog",
        "/acr/v1/{repo}/_tags",
        "/acr/v1/{repo}/_manifests",
    ],
)
def test_listing_n_out_of_range_is_400(
    client: httpx.Client, server: ServerProcess, repo: str, path: str, n: str
) -> None:
    push_image(client, repo, "v1")
    resp = client.get(path.format(repo=repo), params={"n": n})
    assert_error(resp, 400, "PAGINATION_NUMBER_INVALID")


def test_listing_n_at_the_largest_integer_works(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    for path in (f"/v2/{repo}/tags/list", f"/acr/v1/{repo}/_tags", f"/acr/v1/{repo}/_manifests"):
        resp = client.get(path, params={"n": str(2**63 - 1)})
        assert_status(resp, 200)
    resp = client.get("/v2/_catalog", params={"n": str(2**63 - 1)})
    assert_status(resp, 200)


# --- Range and Content-Range ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={HUGE_DIGITS}-",
        f"bytes=0-{HUGE_DIGITS}",
        f"bytes=-{HUGE_DIGITS}",
        f"bytes={HUGE_DIGITS}-{HUGE_DIGITS}",
        "bytes=0-1,2-3",
        "bytes=abc",
        "lines=0-1",
    ],
)
def test_unusable_range_is_ignored(client: httpx.Client, repo: str, header: str) -> None:
    data = b"0123456789" * 10
    digest = upload_blob(client, repo, data)
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
    assert_status(resp, 200)
    assert resp.content == data, describe(resp)


def test_range_with_leading_zeros_still_works(client: httpx.Client, repo: str) -> None:
    data = b"0123456789" * 10
    digest = upload_blob(client, repo, data)
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": f"bytes={'0' * 40}5-9"})
    assert_status(resp, 206)
    assert resp.content == b"56789", describe(resp)


@pytest.mark.parametrize(
    "header", [f"0-{HUGE_DIGITS}", f"{HUGE_DIGITS}-{HUGE_DIGITS}", f"bytes 0-{HUGE_DIGITS}/*"]
)
def test_huge_content_range_is_refused_in_the_envelope(
    client: httpx.Client, repo: str, header: str
) -> None:
    started = start_upload(client, repo)
    resp = client.patch(location(started), content=b"0123456789", headers={"Content-Range": header})
    assert_error(resp, 416, "RANGE_INVALID")
    # The session is intact: a good chunk still goes in.
    resp = client.patch(location(started), content=b"0123456789", headers={"Content-Range": "0-9"})
    assert_status(resp, 202)


# --- strings the database or UTF-8 cannot hold -------------------------------------------------


def _manifest_with(client: httpx.Client, repo: str, **fields: Any) -> dict[str, Any]:
    config = canonical({"architecture": "amd64", "os": "linux"})
    layer = b"layer-" + repo.encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": upload_blob(client, repo, config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": OCI_LAYER, "digest": upload_blob(client, repo, layer), "size": len(layer)}
        ],
    }
    manifest.update(fields)
    return manifest


BAD_TEXT = ["\ud800", "a\udfffb", "nul\u0000byte"]


def _put_raw(
    client: httpx.Client, repo: str, reference: str, document: dict[str, Any]
) -> httpx.Response:
    # ensure_ascii keeps the lone surrogate a `\ud800` escape: exactly what a hostile client sends
    body = json.dumps(document, ensure_ascii=True).encode()
    return client.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize(
    "where", ["artifactType", "configMediaType", "annotationValue", "annotationKey", "layerUrl"]
)
def test_unstorable_text_in_a_manifest_is_manifest_invalid(
    client: httpx.Client, server: ServerProcess, repo: str, where: str, text: str
) -> None:
    since = len(server.log())
    manifest = _manifest_with(client, repo)
    if where == "artifactType":
        manifest["artifactType"] = f"application/x{text}"
    elif where == "configMediaType":
        manifest["config"]["mediaType"] = f"application/x{text}"
    elif where == "annotationValue":
        manifest["annotations"] = {"org.example": text}
    elif where == "annotationKey":
        manifest["annotations"] = {text: "value"}
    else:
        manifest["layers"][0]["urls"] = [f"https://example.com/{text}"]
    resp = _put_raw(client, repo, "v1", manifest)
    assert_error(resp, 400, "MANIFEST_INVALID")
    assert not _log_problems(server, since), server.log()[since:]


@pytest.mark.parametrize("text", BAD_TEXT)
def test_unstorable_architecture_in_the_config_is_not_a_500(
    client: httpx.Client, repo: str, text: str
) -> None:
    config = json.dumps({"architecture": text, "os": text}, ensure_ascii=True).encode()
    manifest = _manifest_with(client, repo)
    manifest["config"] = {
        "mediaType": OCI_CONFIG,
        "digest": upload_blob(client, repo, config),
        "size": len(config),
    }
    resp = _put_raw(client, repo, "v1", manifest)
    assert_status(resp, 201)
    resp = client.get(f"/acr/v1/{repo}/_manifests")
    assert_status(resp, 200)


def test_huge_number_in_a_manifest_is_manifest_invalid(client: httpx.Client, repo: str) -> None:
    manifest = _manifest_with(client, repo)
    body = canonical(manifest).replace(
        b'"schemaVersion":2', f'"schemaVersion":{HUGE_DIGITS}'.encode()
    )
    resp = client.put(
        f"/v2/{repo}/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_error(resp, 400, "MANIFEST_INVALID")


@pytest.mark.parametrize(
    "body",
    [
        b'{"\\ud800": true}',
        b'{"writeEnabled": ' + HUGE_DIGITS.encode() + b"}",
        b'{"changeableAttributes": {"\\u0000": false}}',
        b'{"writeEnabled": "\\udc00"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_hostile_acr_patch_body_is_400(
    client: httpx.Client, server: ServerProcess, repo: str, body: bytes
) -> None:
    since = len(server.log())
    push_image(client, repo, "v1")
    for path in (f"/acr/v1/{repo}", f"/acr/v1/{repo}/_tags/v1"):
        resp = client.patch(path, content=body, headers={"Content-Type": "application/json"})
        assert_error(resp, 400)
    assert not _log_problems(server, since), server.log()[since:]


@pytest.mark.parametrize(
    "query",
    [
        "last=a%00b",
        "last=%ED%A0%80",  # a UTF-8-encoded lone surrogate
        "last=%FF%FE",
        "artifactType=x%00",
        "artifactType=%ED%B0%80",
        "digest=sha256:%00",
        "orderby=%00",
        "n=%00",
    ],
)
def test_unstorable_query_text_is_not_a_500(
    client: httpx.Client, server: ServerProcess, repo: str, query: str
) -> None:
    since = len(server.log())
    pushed = push_image(client, repo, "v1")
    paths = [
        f"/v2/{repo}/tags/list",
        "/v2/_catalog",
        "/acr/v1/_catalog",
        f"/acr/v1/{repo}/_tags",
        f"/acr/v1/{repo}/_manifests",
        f"/v2/{repo}/referrers/{pushed.digest}",
    ]
    for path in paths:
        resp = client.get(f"{path}?{query}")
        assert resp.status_code < 500, describe(resp)
        if resp.status_code >= 400:
            assert_error(resp, resp.status_code)
    assert not _log_problems(server, since), server.log()[since:]
