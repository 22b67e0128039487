"""ACR's data-plane API under /acr/v1: repository, tag and manifest attributes in ACR's JSON
shapes, paging (`n`, `last`, Link) and `orderby`, changes of the changeable attributes, deletes
of tags and manifests, the ACR catalog, and the rights each route needs when auth is on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.auth_helpers import (
    AuthServer,
    basic,
    bearer,
    challenge_of,
    nonce,
    start_auth_server,
    token_for,
)
from tests.integration.helpers import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    assert_error,
    assert_status,
    canonical,
    describe,
    descriptor,
    image_manifest,
    index_manifest,
    next_link,
    push,
    push_image,
    random_bytes,
    upload_blob,
)

ALL_ENABLED = {
    "deleteEnabled": True,
    "writeEnabled": True,
    "readEnabled": True,
    "listEnabled": True,
}
ISO_Z = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse_time(text: str) -> datetime:
    """ACR writes UTC times in ISO 8601 with a `Z`; anything else fails here."""
    assert text.endswith("Z"), text
    return datetime.strptime(text, ISO_Z).replace(tzinfo=UTC)


def recent(text: str, started: float) -> None:
    moment = parse_time(text).timestamp()
    assert started - 1 <= moment <= time.time() + 1, (text, started)


def get_json(client: httpx.Client, url: str, **params: Any) -> Any:
    resp = client.get(url, params=params or None)
    assert_status(resp, 200)
    return resp.json()


def follow(client: httpx.Client, url: str, key: str) -> tuple[list[Any], list[httpx.Response]]:
    """Every item of a paged ACR listing, following its Link headers."""
    items: list[Any] = []
    pages: list[httpx.Response] = []
    next_url: str | None = url
    while next_url is not None and len(pages) < 100:
        resp = client.get(next_url)
        assert_status(resp, 200)
        pages.append(resp)
        items.extend(resp.json()[key])
        link = next_link(resp)
        next_url = urljoin(str(resp.request.url), link) if link else None
    return items, pages


def image_with_platform(
    client: httpx.Client, repo: str, architecture: str, os_name: str, docker: bool = False
) -> Pushed:
    """An image whose config names a platform of the test's choosing."""
    layer = random_bytes(100)
    config = canonical(
        {
            "architecture": architecture,
            "os": os_name,
            "config": {"Labels": {"nonce": nonce()}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
        }
    )
    blobs = [upload_blob(client, repo, config), upload_blob(client, repo, layer)]
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    body = canonical(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
        }
    )
    return Pushed(body, media_type, blobs)


# --- repositories ------------------------------------------------------------------------------


def test_repository_attributes(server: ServerProcess, client: httpx.Client, repo: str) -> None:
    started = time.time()
    image = push_image(client, repo, "v1")
    push(client, repo, image, "v2")
    push_image(client, repo)  # untagged

    body = get_json(client, f"/acr/v1/{repo}")
    assert body["registry"] == server.host, body
    assert body["imageName"] == repo
    assert body["manifestCount"] == 2
    assert body["tagCount"] == 2
    assert body["changeableAttributes"] == {**ALL_ENABLED, "tagImmutability": False}
    recent(body["createdTime"], started)
    recent(body["lastUpdateTime"], started)
    assert parse_time(body["createdTime"]) <= parse_time(body["lastUpdateTime"])

    before = parse_time(body["lastUpdateTime"])
    time.sleep(0.05)
    push(client, repo, image, "v3")
    after = get_json(client, f"/acr/v1/{repo}")
    assert parse_time(after["lastUpdateTime"]) > before, (body, after)
    assert after["createdTime"] == body["createdTime"]
    assert after["tagCount"] == 3

    time.sleep(0.05)
    assert_status(client.delete(f"/v2/{repo}/manifests/v3"), 202)
    deleted = get_json(client, f"/acr/v1/{repo}")
    assert parse_time(deleted["lastUpdateTime"]) > parse_time(after["lastUpdateTime"])
    assert deleted["tagCount"] == 2


def test_unknown_repository_is_404(client: httpx.Client, repo: str) -> None:
    for path in ("", "/_tags", "/_manifests", "/_tags/v1"):
        assert_error(client.get(f"/acr/v1/{repo}{path}"), 404, "NAME_UNKNOWN")
    assert_error(client.patch(f"/acr/v1/{repo}", json={"readEnabled": False}), 404, "NAME_UNKNOWN")


def test_acr_catalog_pages_like_the_v2_catalog(client: httpx.Client, repo: str) -> None:
    names = [f"{repo}/c", f"{repo}/a", f"{repo}/b"]
    for name in names:
        push_image(client, name, "v1")
    listed, pages = follow(client, "/acr/v1/_catalog?n=2", "repositories")
    assert listed == get_json(client, "/v2/_catalog", n=100000)["repositories"]
    mine = [name for name in listed if name.startswith(f"{repo}/")]
    assert mine == sorted(names)
    assert len(pages) >= 2
    link = pages[0].headers["link"]
    assert link.startswith("</acr/v1/_catalog?"), link
    assert 'rel="next"' in link, link
    query = parse_qs(urlsplit(next_link(pages[0]) or "").query)
    assert query["n"] == ["2"]
    assert query["last"] == [pages[0].json()["repositories"][-1]]


# --- tags ----------------------------------------------------------------------------------------


def test_tag_attributes(server: ServerProcess, client: httpx.Client, repo: str) -> None:
    started = time.time()
    first = push_image(client, repo, "v1")
    body = get_json(client, f"/acr/v1/{repo}/_tags")
    assert body["registry"] == server.host
    assert body["imageName"] == repo
    [tag] = body["tags"]
    assert set(tag) == {
        "name",
        "digest",
        "createdTime",
        "lastUpdateTime",
        "signed",
        "changeableAttributes",
    }, tag
    assert tag["name"] == "v1"
    assert tag["digest"] == first.digest
    assert tag["signed"] is False
    assert tag["changeableAttributes"] == ALL_ENABLED
    recent(tag["createdTime"], started)

    # Moving the tag keeps its creation time and updates its last update.
    time.sleep(0.05)
    second = push_image(client, repo, "v1")
    single = get_json(client, f"/acr/v1/{repo}/_tags/v1")
    assert single["registry"] == server.host
    assert single["imageName"] == repo
    moved = single["tag"]
    assert moved["digest"] == second.digest
    assert moved["createdTime"] == tag["createdTime"]
    assert parse_time(moved["lastUpdateTime"]) > parse_time(tag["lastUpdateTime"])

    assert_error(client.get(f"/acr/v1/{repo}/_tags/nope"), 404, "MANIFEST_UNKNOWN")


def test_tags_page_by_name(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "t-3")
    for tag in ("t-1", "T-2", "t-0", "t-4"):
        push(client, repo, image, tag)
    listed, pages = follow(client, f"/acr/v1/{repo}/_tags?n=2", "tags")
    assert [t["name"] for t in listed] == ["T-2", "t-0", "t-1", "t-3", "t-4"]  # byte order
    assert [len(p.json()["tags"]) for p in pages] == [2, 2, 1]
    first_link = next_link(pages[0]) or ""
    assert urlsplit(first_link).path == f"/acr/v1/{repo}/_tags", first_link
    assert parse_qs(urlsplit(first_link).query) == {"last": ["t-0"], "n": ["2"]}

    after = get_json(client, f"/acr/v1/{repo}/_tags", last="t-1")
    assert [t["name"] for t in after["tags"]] == ["t-3", "t-4"]


def test_tags_order_by_time_and_filter_by_digest(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "b")
    other = push_image(client, repo, "z")
    for tag in ("a", "c"):
        time.sleep(0.02)
        push(client, repo, image, tag)
    pushed_order = ["b", "z", "a", "c"]

    newest = get_json(client, f"/acr/v1/{repo}/_tags", orderby="timedesc")
    assert [t["name"] for t in newest["tags"]] == pushed_order[::-1]
    oldest = get_json(client, f"/acr/v1/{repo}/_tags", orderby="timeasc")
    assert [t["name"] for t in oldest["tags"]] == pushed_order

    listed, pages = follow(client, f"/acr/v1/{repo}/_tags?n=1&orderby=timedesc", "tags")
    assert [t["name"] for t in listed] == pushed_order[::-1]
    assert "orderby=timedesc" in (next_link(pages[0]) or ""), describe(pages[0])

    # Moving a tag makes it the newest.
    time.sleep(0.02)
    push(client, repo, other, "b")
    newest = get_json(client, f"/acr/v1/{repo}/_tags", orderby="timedesc")
    assert [t["name"] for t in newest["tags"]] == ["b", "c", "a", "z"]

    of_image = get_json(client, f"/acr/v1/{repo}/_tags", digest=image.digest)
    assert sorted(t["name"] for t in of_image["tags"]) == ["a", "c"]
    assert {t["digest"] for t in of_image["tags"]} == {image.digest}

    assert_error(client.get(f"/acr/v1/{repo}/_tags", params={"orderby": "sideways"}), 400)
    gone = client.get(f"/acr/v1/{repo}/_tags", params={"orderby": "timeasc", "last": "nope"})
    assert_error(gone, 400)


# --- manifests ------------------------------------------------------------------------------------


def test_manifest_attributes_of_an_image(
    server: ServerProcess, client: httpx.Client, repo: str
) -> None:
    started = time.time()
    image = push(client, repo, image_with_platform(client, repo, "arm64", "windows"), "win")
    push(client, repo, image, "also")
    body = get_json(client, f"/acr/v1/{repo}/_manifests/{image.digest}")
    assert body["registry"] == server.host
    assert body["imageName"] == repo
    manifest = body["manifest"]
    sizes = sum(descriptor["size"] for descriptor in [image.json["config"], *image.json["layers"]])
    assert manifest == {
        "digest": image.digest,
        "imageSize": image.size + sizes,
        "createdTime": manifest["createdTime"],
        "lastUpdateTime": manifest["lastUpdateTime"],
        "architecture": "arm64",
        "os": "windows",
        "mediaType": OCI_MANIFEST,
        "configMediaType": OCI_CONFIG,
        "tags": ["also", "win"],
        "changeableAttributes": ALL_ENABLED,
    }
    recent(manifest["createdTime"], started)
    assert parse_time(manifest["createdTime"]) <= parse_time(manifest["lastUpdateTime"])

    docker = push(client, repo, image_with_platform(client, repo, "s390x", "linux", docker=True))
    got = get_json(client, f"/acr/v1/{repo}/_manifests/{docker.digest}")["manifest"]
    assert (got["architecture"], got["os"]) == ("s390x", "linux")
    assert got["mediaType"] == DOCKER_MANIFEST
    assert got["configMediaType"] == DOCKER_CONFIG
    assert got["tags"] == []


def test_manifest_attributes_of_artifacts_and_indexes(client: httpx.Client, repo: str) -> None:
    artifact = push(client, repo, artifact_manifest(client, repo), "sbom")
    got = get_json(client, f"/acr/v1/{repo}/_manifests/{artifact.digest}")["manifest"]
    assert got["architecture"] is None, got
    assert got["os"] is None, got
    assert got["configMediaType"] == "application/vnd.oci.empty.v1+json"

    amd = push(client, repo, image_manifest(client, repo))
    arm = push(client, repo, image_manifest(client, repo))
    index = push(client, repo, index_manifest([amd, arm]), "multi")
    got = get_json(client, f"/acr/v1/{repo}/_manifests/{index.digest}")["manifest"]
    assert got["mediaType"] == OCI_INDEX
    assert got["architecture"] is None
    assert got["references"] == [
        {"digest": amd.digest, "architecture": "amd64", "os": "linux"},
        {"digest": arm.digest, "architecture": "arm64", "os": "linux"},
    ]
    assert got["imageSize"] == index.size
    assert_error(
        client.get(f"/acr/v1/{repo}/_manifests/sha256:{'0' * 64}"), 404, "MANIFEST_UNKNOWN"
    )


def test_manifests_page_and_order(client: httpx.Client, repo: str) -> None:
    pushed = []
    for _ in range(4):
        pushed.append(push_image(client, repo))
        time.sleep(0.02)
    digests = [p.digest for p in pushed]

    listed, pages = follow(client, f"/acr/v1/{repo}/_manifests?n=3", "manifests")
    assert [m["digest"] for m in listed] == sorted(digests)
    assert len(pages) == 2
    assert parse_qs(urlsplit(next_link(pages[0]) or "").query)["last"] == [sorted(digests)[2]]

    newest = get_json(client, f"/acr/v1/{repo}/_manifests", orderby="timedesc")
    assert [m["digest"] for m in newest["manifests"]] == digests[::-1]
    listed, _ = follow(client, f"/acr/v1/{repo}/_manifests?n=1&orderby=timeasc", "manifests")
    assert [m["digest"] for m in listed] == digests

    # Tagging the oldest manifest is an update of it: it becomes the newest.
    push(client, repo, pushed[0], "now")
    newest = get_json(client, f"/acr/v1/{repo}/_manifests", orderby="timedesc")
    assert newest["manifests"][0]["digest"] == digests[0]
    assert newest["manifests"][0]["tags"] == ["now"]


# --- changeable attributes -----------------------------------------------------------------------


def test_patch_repository_tag_and_manifest(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")

    resp = client.patch(f"/acr/v1/{repo}", json={"writeEnabled": False})
    assert_status(resp, 200)
    assert resp.json()["imageName"] == repo
    assert resp.json()["changeableAttributes"] == {
        **ALL_ENABLED,
        "writeEnabled": False,
        "tagImmutability": False,
    }
    # Partial updates, in the wrapped form some ACR clients send.
    resp = client.patch(
        f"/acr/v1/{repo}",
        json={"changeableAttributes": {"listEnabled": False, "writeEnabled": True}},
    )
    assert_status(resp, 200)
    assert get_json(client, f"/acr/v1/{repo}")["changeableAttributes"] == {
        **ALL_ENABLED,
        "listEnabled": False,
        "tagImmutability": False,
    }
    resp = client.patch(f"/acr/v1/{repo}", json={"tagImmutability": True})
    assert_status(resp, 200)
    assert resp.json()["changeableAttributes"]["tagImmutability"] is True

    resp = client.patch(f"/acr/v1/{repo}/_tags/v1", json={"deleteEnabled": False})
    assert_status(resp, 200)
    assert resp.json()["tag"]["name"] == "v1"
    assert resp.json()["tag"]["changeableAttributes"] == {**ALL_ENABLED, "deleteEnabled": False}
    # Locking the tag does not lock its manifest.
    manifest = get_json(client, f"/acr/v1/{repo}/_manifests/{image.digest}")["manifest"]
    assert manifest["changeableAttributes"] == ALL_ENABLED

    resp = client.patch(f"/acr/v1/{repo}/_manifests/{image.digest}", json={"readEnabled": False})
    assert_status(resp, 200)
    assert resp.json()["manifest"]["changeableAttributes"] == {**ALL_ENABLED, "readEnabled": False}
    tag = get_json(client, f"/acr/v1/{repo}/_tags/v1")["tag"]
    assert tag["changeableAttributes"] == {**ALL_ENABLED, "deleteEnabled": False}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"writeEnabled": "false"},
        {"writeEnabled": None},
        {"teleportEnabled": True},
        {"changeableAttributes": {"bogus": True}},
        ["writeEnabled"],
    ],
)
def test_patch_refuses_bad_bodies(client: httpx.Client, repo: str, body: Any) -> None:
    push_image(client, repo, "v1")
    for path in ("", "/_tags/v1"):
        assert_error(client.patch(f"/acr/v1/{repo}{path}", json=body), 400)
    resp = client.patch(f"/acr/v1/{repo}/_tags/v1", json={"tagImmutability": True})
    assert_error(resp, 400)  # a repository setting only
    resp = client.patch(f"/acr/v1/{repo}", content=b"{not json", headers={"Content-Type": "x"})
    assert_error(resp, 400)
    assert get_json(client, f"/acr/v1/{repo}")["changeableAttributes"]["writeEnabled"] is True


def test_patch_unknown_tag_or_manifest_is_404(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    resp = client.patch(f"/acr/v1/{repo}/_tags/nope", json={"writeEnabled": False})
    assert_error(resp, 404, "MANIFEST_UNKNOWN")
    resp = client.patch(
        f"/acr/v1/{repo}/_manifests/sha256:{'1' * 64}", json={"writeEnabled": False}
    )
    assert_error(resp, 404, "MANIFEST_UNKNOWN")


# --- deletes -------------------------------------------------------------------------------------


def test_delete_tag_and_manifest(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    push(client, repo, image, "v2")
    assert_status(client.delete(f"/acr/v1/{repo}/_tags/v1"), 202)
    tags = get_json(client, f"/acr/v1/{repo}/_tags")["tags"]
    assert [t["name"] for t in tags] == ["v2"]
    assert_status(client.get(f"/v2/{repo}/manifests/{image.digest}"), 200)
    assert_error(client.delete(f"/acr/v1/{repo}/_tags/v1"), 404, "MANIFEST_UNKNOWN")

    assert_status(client.delete(f"/acr/v1/{repo}/_manifests/{image.digest}"), 202)
    assert get_json(client, f"/acr/v1/{repo}/_manifests")["manifests"] == []
    assert get_json(client, f"/acr/v1/{repo}/_tags")["tags"] == []
    assert_error(client.get(f"/v2/{repo}/manifests/v2"), 404, "MANIFEST_UNKNOWN")
    assert_error(
        client.delete(f"/acr/v1/{repo}/_manifests/{image.digest}"), 404, "MANIFEST_UNKNOWN"
    )
    assert_error(client.delete(f"/acr/v1/{repo}/_manifests/v2"), 400, "DIGEST_INVALID")


# --- rights, with auth on -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("dockyard-acr-auth"))
    yield server
    server.close()


def test_rights_of_each_route(srv: AuthServer, owner: httpx.Client, anon: httpx.Client) -> None:
    repo = f"acr{nonce()}/app"
    image = push_image(owner, repo, "v1")
    push(owner, repo, image, "v2")
    puller = basic(*srv.user("AcrPull", repo))
    reader = basic(*srv.user("Reader", repo))
    deleter = basic(*srv.user("AcrDelete", repo))
    contributor = basic(*srv.user("Contributor", repo))
    routes = [f"/acr/v1/{repo}", f"/acr/v1/{repo}/_tags", f"/acr/v1/{repo}/_tags/v1"]
    routes += [f"/acr/v1/{repo}/_manifests", f"/acr/v1/{repo}/_manifests/{image.digest}"]

    for path in routes:  # GET needs metadata_read
        assert_error(anon.get(path, headers=puller), 403, "DENIED")
        assert_status(anon.get(path, headers=reader), 200)
    for path in (routes[0], routes[2], routes[4]):  # PATCH needs metadata_write
        for who in (puller, reader, deleter):
            assert_error(anon.patch(path, json={"listEnabled": True}, headers=who), 403, "DENIED")
        assert_status(anon.patch(path, json={"listEnabled": True}, headers=contributor), 200)
    # DELETE needs delete
    for who in (puller, reader):
        assert_error(anon.delete(f"/acr/v1/{repo}/_tags/v2", headers=who), 403, "DENIED")
    assert_status(anon.delete(f"/acr/v1/{repo}/_tags/v2", headers=deleter), 202)

    # A token client is challenged for ACR's metadata actions, and a token with them works.
    scope = f"repository:{repo}:metadata_read"
    assert challenge_of(anon.get(f"/acr/v1/{repo}/_tags"))["scope"] == scope
    token = token_for(anon, reader, scope, service=srv.host)
    assert_status(anon.get(f"/acr/v1/{repo}/_tags", headers=bearer(token)), 200)
    write_scope = f"repository:{repo}:metadata_write"
    resp = anon.patch(f"/acr/v1/{repo}", json={"readEnabled": True})
    assert challenge_of(resp)["scope"] == write_scope


def test_acr_catalog_lists_only_readable_repositories(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    n = nonce()
    readable = f"acat{n}/readable"
    hidden = f"acat{n}/hidden"
    for name in (readable, hidden):
        push_image(owner, name, "v1")
    creds = basic(*srv.user("AcrPull", readable))
    everything = get_json(owner, "/acr/v1/_catalog", n=100000)["repositories"]
    assert {readable, hidden} <= set(everything)
    with httpx.Client(base_url=srv.url, headers=creds, timeout=60) as puller:
        listed, _ = follow(puller, "/acr/v1/_catalog?n=1", "repositories")
    assert readable in listed
    assert hidden not in listed
    assert_error(anon.get("/acr/v1/_catalog"), 401, "UNAUTHORIZED")
