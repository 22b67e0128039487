"""Repository names, tags, path traversal and the error envelope on every error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.helpers import (
    OCI_CONFIG,
    OCI_MANIFEST,
    RawResponse,
    assert_envelope,
    assert_error,
    assert_status,
    canonical,
    describe,
    header_values,
    image_manifest,
    push,
    push_image,
    put_manifest,
    random_bytes,
    raw_request,
    sha256,
    unique_digest,
    upload_blob,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

NAME_ERRORS = ("NAME_INVALID", "NAME_UNKNOWN")

INVALID_NAMES = {
    "uppercase": "Test/Repo",
    "uppercase-component": "test/MiXed",
    "dotdot-component": "test/../etc",
    "dotdot-only": "..",
    "dot-component": "test/./x",
    "empty-component": "a//b",
    "leading-slash": "/leading",
    "trailing-slash": "trailing/",
    "leading-dash": "-dash/x",
    "leading-dot": ".hidden",
    "trailing-separator": "abc-",
    "triple-underscore": "a___b",
    "double-dot": "a..b",
    "space": "a%20b",
    "too-long": "a" * 256,
    "too-long-components": "/".join(["abcdefghij"] * 23) + "/abcdefghijklmn",  # 267 chars
}


def assert_name_rejected(resp: RawResponse) -> None:
    assert_error(resp, (400, 404), *NAME_ERRORS)
    if resp.status_code == 400:
        assert_error(resp, 400, "NAME_INVALID")


@pytest.mark.parametrize("case", sorted(INVALID_NAMES))
def test_invalid_name_on_tags_list(server: ServerProcess, case: str) -> None:
    name = INVALID_NAMES[case]
    assert_name_rejected(raw_request(server.port, "GET", f"/v2/{name}/tags/list"))


@pytest.mark.parametrize("case", sorted(INVALID_NAMES))
def test_invalid_name_on_upload_start(server: ServerProcess, case: str) -> None:
    name = INVALID_NAMES[case]
    resp = raw_request(server.port, "POST", f"/v2/{name}/blobs/uploads/")
    assert_name_rejected(resp)


@pytest.mark.parametrize("case", sorted(INVALID_NAMES))
def test_invalid_name_on_manifest_put(server: ServerProcess, case: str) -> None:
    name = INVALID_NAMES[case]
    obj = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": unique_digest(), "size": 2},
        "layers": [],
    }
    body = canonical(obj)
    resp = raw_request(
        server.port,
        "PUT",
        f"/v2/{name}/manifests/latest",
        headers={"Content-Type": OCI_MANIFEST},
        body=body,
    )
    assert_name_rejected(resp)


@pytest.mark.parametrize("case", sorted(INVALID_NAMES))
def test_invalid_name_on_blob_get(server: ServerProcess, case: str) -> None:
    name = INVALID_NAMES[case]
    resp = raw_request(server.port, "GET", f"/v2/{name}/blobs/{unique_digest()}")
    assert_error(resp, (400, 404), *NAME_ERRORS, "BLOB_UNKNOWN")


def test_invalid_name_never_appears_in_catalog(server: ServerProcess, client: httpx.Client) -> None:
    for name in ("Bad/Upper", "bad//double"):
        raw_request(server.port, "POST", f"/v2/{name}/blobs/uploads/")
    resp = client.get("/v2/_catalog", params={"n": 100000})
    assert_status(resp, 200)
    names = resp.json()["repositories"]
    for bad in ("Bad/Upper", "bad//double", "bad/double"):
        assert bad not in names


@pytest.mark.parametrize(
    "suffix",
    ["a__b/c--d/e.f", "x-y_z.0", "a" * 30 + "/" + "b" * 30, "1/2/3/4/5/6/7/8/9"],
)
def test_valid_unusual_names_work(client: httpx.Client, repo: str, suffix: str) -> None:
    name = f"{repo}/{suffix}"
    manifest = push_image(client, name, "v1")
    resp = client.get(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert_status(resp, 200)
    assert resp.content == manifest.body
    assert client.get(f"/v2/{name}/tags/list").json()["name"] == name


def test_name_of_255_characters_is_valid(client: httpx.Client, repo: str) -> None:
    name = repo + "/" + "n" * (255 - len(repo) - 1)
    assert len(name) == 255
    manifest = push_image(client, name, "v1")
    resp = client.get(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert_status(resp, 200)
    assert resp.content == manifest.body


@pytest.mark.parametrize("word", ["blobs", "manifests", "tags", "uploads", "referrers", "v2"])
def test_names_with_api_words_as_components(client: httpx.Client, repo: str, word: str) -> None:
    """`<name>` may contain components spelled like route segments; routing must not confuse
    them (e.g. repository `x/manifests` answers at /v2/x/manifests/manifests/<ref>)."""
    name = f"{repo}/{word}"
    data = random_bytes(40)
    digest = upload_blob(client, name, data)
    blob = client.get(f"/v2/{name}/blobs/{digest}")
    assert_status(blob, 200)
    assert blob.content == data
    manifest = push_image(client, name, "latest")
    got = client.get(f"/v2/{name}/manifests/latest", headers={"Accept": OCI_MANIFEST})
    assert_status(got, 200)
    assert got.content == manifest.body
    tags = client.get(f"/v2/{name}/tags/list")
    assert_status(tags, 200)
    assert tags.json() == {"name": name, "tags": ["latest"]}, describe(tags)
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")


# --- tags ---------------------------------------------------------------------------------------

INVALID_TAGS = {
    "leading-dash": "-bad",
    "leading-dot": ".bad",
    "too-long": "t" * 129,
    "bang": "bad!tag",
    "plus": "bad+tag",
    "at": "bad@tag",
    "percent-space": "bad%20tag",
    "percent-dotdot": "%2e%2e",
}


@pytest.mark.parametrize("case", sorted(INVALID_TAGS))
def test_invalid_tag_on_manifest_put(
    server: ServerProcess, client: httpx.Client, repo: str, case: str
) -> None:
    tag = INVALID_TAGS[case]
    manifest = image_manifest(client, repo)
    resp = raw_request(
        server.port,
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        headers={"Content-Type": manifest.media_type},
        body=manifest.body,
    )
    assert_error(resp, 400, "TAG_INVALID", "MANIFEST_INVALID")


@pytest.mark.parametrize("case", ["leading-dash", "leading-dot", "too-long", "bang"])
def test_invalid_tag_parameter_on_put_by_digest(client: httpx.Client, repo: str, case: str) -> None:
    manifest = image_manifest(client, repo)
    resp = put_manifest(
        client,
        repo,
        manifest.digest,
        manifest.body,
        manifest.media_type,
        params=[("tag", "good"), ("tag", INVALID_TAGS[case])],
    )
    assert_error(resp, 400, "TAG_INVALID", "MANIFEST_INVALID")
    tags = client.get(f"/v2/{repo}/tags/list")
    if tags.status_code == 200:
        assert "good" not in (tags.json().get("tags") or []), "partial tagging" + describe(tags)


@pytest.mark.parametrize(
    "tag", ["t" * 128, "_underscore", "UPPER.lower-1_2", "0", "a" + "." * 10 + "b", "__"]
)
def test_valid_tags(client: httpx.Client, repo: str, tag: str) -> None:
    manifest = image_manifest(client, repo)
    resp = put_manifest(client, repo, tag, manifest.body, manifest.media_type)
    assert_status(resp, 201)
    got = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert_status(got, 200)
    assert got.content == manifest.body
    assert tag in client.get(f"/v2/{repo}/tags/list").json()["tags"]


def test_valid_tag_via_parameter(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    resp = put_manifest(
        client,
        repo,
        manifest.digest,
        manifest.body,
        manifest.media_type,
        params=[("tag", "t" * 128)],
    )
    assert_status(resp, 201)
    assert header_values(resp, "oci-tag") == ["t" * 128], describe(resp)


# --- path traversal -----------------------------------------------------------------------------

TRAVERSALS = [
    "/v2/../../../../etc/passwd",
    "/v2/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/v2/..%2f..%2f..%2f..%2fetc%2fpasswd/tags/list",
    "/v2/%2e%2e%2f%2e%2e%2fdockyard.db/tags/list",
    "/v2/test/x/blobs/sha256:..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/v2/test/x/blobs/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/v2/test/x/blobs/sha256%3a..%2f..%2f..%2fdockyard.db",
    "/v2/test/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd/blobs/" + "sha256:" + "0" * 64,
    "/v2/test/x/manifests/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/v2/test/x/manifests/%2e%2e",
    "/v2/test/x/blobs/uploads/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/v2/test/x/blobs/uploads/%2e%2e%2f%2e%2e%2fdockyard.db",
    "/v2/test/x/referrers/..%2f..%2fdockyard.db",
    "/v2/test/x/tags/list/../../../../../etc/passwd",
    "/v2/test/x/blobs/sha256:" + "0" * 64 + "/../../../../../../etc/passwd",
    "/v2/test%2f..%2f..%2f..%2fetc/tags/list",
    "/v2/test/x/blobs/sha256:%2e%2e%5c%2e%2e%5cwindows",
]


def assert_no_leak(resp: RawResponse) -> None:
    assert 400 <= resp.status_code < 500, "traversal not refused" + describe(resp)
    body = resp.content
    assert b"root:" not in body, "leaked /etc/passwd" + describe(resp)
    assert not body.startswith(b"SQLite format 3"), "leaked the database" + describe(resp)


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_get_is_refused(server: ServerProcess, target: str) -> None:
    assert_no_leak(raw_request(server.port, "GET", target))


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_head_is_refused(server: ServerProcess, target: str) -> None:
    resp = raw_request(server.port, "HEAD", target)
    assert 400 <= resp.status_code < 500, "traversal not refused" + describe(resp)


@pytest.mark.parametrize(
    "target",
    [
        "/v2/test/x/blobs/uploads/..%2f..%2f..%2fescape",
        "/v2/test/x/blobs/uploads/%2e%2e%2f%2e%2e%2f%2e%2e%2fescape",
        "/v2/test/x/blobs/uploads/..",
    ],
)
def test_path_traversal_writes_are_refused(server: ServerProcess, target: str) -> None:
    data = b"traversal payload"
    for method, suffix in (("PATCH", ""), ("PUT", f"?digest={sha256(data)}")):
        resp = raw_request(
            server.port,
            method,
            target + suffix,
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert 400 <= resp.status_code < 500, "traversal write not refused" + describe(resp)
    root = server.data_dir.parent
    for path in (root / "escape", server.data_dir / "escape", root.parent / "escape"):
        assert not path.exists(), f"traversal wrote {path}"


def test_traversal_in_mount_parameters(
    server: ServerProcess, client: httpx.Client, repo: str
) -> None:
    upload_blob(client, repo, random_bytes(8))
    resp = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"mount": "sha256:../../../../etc/passwd", "from": "../../etc"},
    )
    assert resp.status_code in (202, 400, 404), describe(resp)
    assert b"root:" not in resp.content
    if resp.status_code != 202:
        assert_envelope(resp)


# --- error envelope everywhere ------------------------------------------------------------------


def error_requests(repo: str) -> list[tuple[str, str, bytes]]:
    """(method, target, body) triples that must each fail with an OCI error envelope."""
    missing = unique_digest()
    return [
        ("GET", f"/v2/{repo}/tags/list", b""),
        ("GET", f"/v2/{repo}/manifests/latest", b""),
        ("GET", f"/v2/{repo}/manifests/{missing}", b""),
        ("DELETE", f"/v2/{repo}/manifests/{missing}", b""),
        ("GET", f"/v2/{repo}/blobs/{missing}", b""),
        ("DELETE", f"/v2/{repo}/blobs/{missing}", b""),
        ("GET", f"/v2/{repo}/blobs/sha256:bad", b""),
        ("GET", f"/v2/{repo}/blobs/uploads/does-not-exist", b""),
        ("PATCH", f"/v2/{repo}/blobs/uploads/does-not-exist", b"data"),
        ("PUT", f"/v2/{repo}/blobs/uploads/does-not-exist?digest={missing}", b"data"),
        ("DELETE", f"/v2/{repo}/blobs/uploads/does-not-exist", b""),
        ("PUT", f"/v2/{repo}/manifests/latest", b"{not json"),
        ("PUT", f"/v2/{repo}/manifests/{missing}", b"{}"),
        ("GET", f"/v2/{repo}/referrers/sha256:bad", b""),
        ("GET", "/v2/UPPER/tags/list", b""),
        ("GET", f"/v2/{repo}/tags/list?n=abc", b""),
    ]


def test_every_error_has_the_envelope(server: ServerProcess, repo: str) -> None:
    failures = []
    for method, target, body in error_requests(repo):
        headers = {"Content-Type": OCI_MANIFEST} if "/manifests/" in target else {}
        resp = raw_request(server.port, method, target, headers=headers, body=body)
        try:
            assert 400 <= resp.status_code < 500, "not a 4xx" + describe(resp)
            assert_envelope(resp)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)


def test_unknown_route_under_v2_has_the_envelope(client: httpx.Client, repo: str) -> None:
    resp = client.get(f"/v2/{repo}/no-such-endpoint")
    assert 400 <= resp.status_code < 500, describe(resp)
    assert_envelope(resp)


def test_wrong_method_has_the_envelope(client: httpx.Client, repo: str) -> None:
    push(client, repo, image_manifest(client, repo), "v1")
    resp = client.post(f"/v2/{repo}/tags/list")
    assert resp.status_code in (404, 405), describe(resp)
    assert_envelope(resp)


def test_error_detail_is_json_if_present(client: httpx.Client, repo: str) -> None:
    resp = put_manifest(client, repo, "latest", b"{not json", OCI_MANIFEST)
    errors = assert_error(resp, 400, "MANIFEST_INVALID")
    for err in errors:
        assert set(err) <= {"code", "message", "detail"}, describe(resp)
