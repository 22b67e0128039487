"""Deleting a whole repository with the ACR API: DELETE /acr/v1/<name>."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx

from tests.integration.helpers import (
    OCI_MANIFEST,
    assert_error,
    assert_status,
    describe,
    media_type_of,
    next_link,
    push,
    push_image,
    random_bytes,
    upload_blob,
)


def all_repositories(client: httpx.Client) -> list[str]:
    names: list[str] = []
    url: str | None = "/v2/_catalog?n=1000"
    while url is not None:
        resp = client.get(url)
        assert_status(resp, 200)
        names.extend(resp.json()["repositories"])
        link = next_link(resp)
        url = urljoin(str(resp.request.url), link) if link else None
    return names


def test_delete_repository(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    push(client, repo, image, "v2")
    loose = upload_blob(client, repo, random_bytes(30))
    assert repo in all_repositories(client)

    resp = client.delete(f"/acr/v1/{repo}")
    assert_status(resp, 202, 200)

    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")
    assert repo not in all_repositories(client)
    for ref in ("v1", "v2", image.digest):
        resp = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert_error(resp, 404, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")
    for digest in [*image.blobs, loose]:
        assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")


def test_delete_repository_reports_what_it_deleted(client: httpx.Client, repo: str) -> None:
    """ACR answers 202 with the deleted manifests and tags."""
    first = push_image(client, repo, "a")
    push(client, repo, first, "b")
    second = push_image(client, repo)  # untagged
    resp = client.delete(f"/acr/v1/{repo}")
    assert_status(resp, 202)
    assert media_type_of(resp) == "application/json", describe(resp)
    body = resp.json()
    assert sorted(body["manifestsDeleted"]) == sorted([first.digest, second.digest]), describe(resp)
    assert sorted(body["tagsDeleted"]) == ["a", "b"], describe(resp)


def test_delete_repository_leaves_others_alone(client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    other = f"{repo}-survivor"
    for digest in image.blobs:
        resp = client.post(f"/v2/{other}/blobs/uploads/", params={"mount": digest, "from": repo})
        assert_status(resp, 201)
    kept = push(client, other, image, "v1")
    # A repository whose name has the deleted one as a prefix path is a different repository.
    nested = f"{repo}/nested"
    nested_image = push_image(client, nested, "v1")

    assert_status(client.delete(f"/acr/v1/{repo}"), 202, 200)

    got = client.get(f"/v2/{other}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert_status(got, 200)
    assert got.content == kept.body
    assert_status(client.get(f"/v2/{other}/blobs/{image.blobs[1]}"), 200)
    got = client.get(f"/v2/{nested}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert_status(got, 200)
    assert got.content == nested_image.body
    names = all_repositories(client)
    assert other in names
    assert nested in names


def test_delete_unknown_repository_is_404(client: httpx.Client, repo: str) -> None:
    assert_error(client.delete(f"/acr/v1/{repo}"), 404, "NAME_UNKNOWN")


def test_deleted_repository_can_be_recreated(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "old")
    assert_status(client.delete(f"/acr/v1/{repo}"), 202, 200)
    fresh = push_image(client, repo, "new")
    tags = client.get(f"/v2/{repo}/tags/list")
    assert_status(tags, 200)
    assert tags.json()["tags"] == ["new"], describe(tags)
    got = client.get(f"/v2/{repo}/manifests/new", headers={"Accept": OCI_MANIFEST})
    assert_status(got, 200)
    assert got.content == fresh.body


def test_delete_repository_with_invalid_name(client: httpx.Client) -> None:
    resp = client.delete("/acr/v1/Bad/Name")
    assert_error(resp, (400, 404), "NAME_INVALID", "NAME_UNKNOWN")
