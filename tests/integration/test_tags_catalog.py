"""Listing tags (end-8a, end-8b) and repositories (`/v2/_catalog`), with n/last pagination.
The catalog of a registry of its own is a protocol test (tests/protocol/test_tags_catalog.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.integration.helpers import (
    Pushed,
    assert_error,
    assert_status,
    describe,
    image_manifest,
    media_type_of,
    next_link,
    push,
    push_image,
)


def tag_all(client: httpx.Client, repo: str, tags: list[str]) -> Pushed:
    manifest = image_manifest(client, repo)
    for tag in tags:
        push(client, repo, manifest, tag)
    return manifest


def list_tags(client: httpx.Client, repo: str, **params: str | int) -> httpx.Response:
    resp = client.get(f"/v2/{repo}/tags/list", params=params)
    assert_status(resp, 200)
    assert media_type_of(resp) == "application/json", describe(resp)
    return resp


def page_tags(resp: httpx.Response) -> list[str]:
    tags = resp.json().get("tags")
    assert isinstance(tags, list), describe(resp)
    return [str(t) for t in tags]


def assert_next(resp: httpx.Response, path: str, n: int, last: str) -> str:
    """The Link header names `path?n=<n>&last=<last>` as rel="next"; returns the absolute URL."""
    link = next_link(resp)
    assert link is not None, "no Link rel=next" + describe(resp)
    url = urljoin(str(resp.request.url), link)
    parts = urlsplit(url)
    assert parts.path == path, f"Link path {parts.path!r}" + describe(resp)
    query = parse_qs(parts.query)
    assert query.get("n") == [str(n)], f"Link query {parts.query!r}" + describe(resp)
    assert query.get("last") == [last], f"Link query {parts.query!r}" + describe(resp)
    return url


# --- tags ---------------------------------------------------------------------------------------


def test_tags_list_shape_and_lexical_order(client: httpx.Client, repo: str) -> None:
    tags = ["v2", "latest", "1.0", "v10", "_private", "a.b-c_d", "0", "v1"]
    tag_all(client, repo, tags)
    resp = list_tags(client, repo)
    body = resp.json()
    assert body["name"] == repo, describe(resp)
    assert page_tags(resp) == sorted(tags), describe(resp)
    assert next_link(resp) is None, describe(resp)


def test_tags_list_mixed_case_order(client: httpx.Client, repo: str) -> None:
    """Lexical order may be ASCIIbetical or case-insensitive; either way it is sorted."""
    tags = ["b", "B2", "a", "A1", "c"]
    tag_all(client, repo, tags)
    got = page_tags(list_tags(client, repo))
    assert got in (sorted(tags), sorted(tags, key=str.lower)), got


def test_tags_pagination_follows_link(client: httpx.Client, repo: str) -> None:
    tags = [f"t{i}" for i in range(5)]
    tag_all(client, repo, tags)
    path = f"/v2/{repo}/tags/list"
    first = list_tags(client, repo, n=2)
    assert page_tags(first) == ["t0", "t1"]
    url = assert_next(first, path, 2, "t1")
    second = client.get(url)
    assert_status(second, 200)
    assert page_tags(second) == ["t2", "t3"]
    url = assert_next(second, path, 2, "t3")
    third = client.get(url)
    assert_status(third, 200)
    assert page_tags(third) == ["t4"]
    assert next_link(third) is None, describe(third)


def test_tags_link_header_format(client: httpx.Client, repo: str) -> None:
    """`Link: </v2/<name>/tags/list?n=2&last=b>; rel="next"` (RFC 5988, brackets required)."""
    tag_all(client, repo, ["a", "b", "c"])
    resp = list_tags(client, repo, n=2)
    link = resp.headers.get("link", "")
    assert link.startswith("<"), describe(resp)
    assert '>; rel="next"' in link, describe(resp)


def test_tags_last_without_n(client: httpx.Client, repo: str) -> None:
    tag_all(client, repo, ["a", "b", "c", "d"])
    resp = list_tags(client, repo, last="b")
    assert page_tags(resp) == ["c", "d"]
    assert next_link(resp) is None, describe(resp)


def test_tags_last_not_a_tag(client: httpx.Client, repo: str) -> None:
    """`last` is a position in the sorted list, not necessarily an existing tag."""
    tag_all(client, repo, ["a", "c", "e"])
    assert page_tags(list_tags(client, repo, last="b")) == ["c", "e"]
    assert page_tags(list_tags(client, repo, n=1, last="d")) == ["e"]


def test_tags_last_past_the_end(client: httpx.Client, repo: str) -> None:
    tag_all(client, repo, ["a", "b"])
    resp = list_tags(client, repo, n=10, last="zzz")
    assert page_tags(resp) == []
    assert next_link(resp) is None, describe(resp)


def test_tags_n_zero_is_empty_without_link(client: httpx.Client, repo: str) -> None:
    tag_all(client, repo, ["a", "b"])
    resp = list_tags(client, repo, n=0)
    assert page_tags(resp) == []
    assert next_link(resp) is None, describe(resp)


def test_tags_n_larger_than_count(client: httpx.Client, repo: str) -> None:
    tag_all(client, repo, ["a", "b", "c"])
    resp = list_tags(client, repo, n=100)
    assert page_tags(resp) == ["a", "b", "c"]
    assert next_link(resp) is None, describe(resp)


def test_tags_very_large_n(client: httpx.Client, repo: str) -> None:
    """Fewer than n tags come back only when no more exist or a Link header says there are."""
    tag_all(client, repo, ["a", "b", "c"])
    resp = list_tags(client, repo, n=10**9)
    if next_link(resp) is None:
        assert page_tags(resp) == ["a", "b", "c"], describe(resp)


@pytest.mark.parametrize("bad_n", ["abc", "-1", "1.5"])
def test_tags_invalid_n_is_400(client: httpx.Client, repo: str, bad_n: str) -> None:
    tag_all(client, repo, ["a"])
    resp = client.get(f"/v2/{repo}/tags/list", params={"n": bad_n})
    assert_error(resp, 400)


def test_tags_of_unknown_repository_is_404_name_unknown(client: httpx.Client, repo: str) -> None:
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")


def test_tags_list_reflects_tag_deletion(client: httpx.Client, repo: str) -> None:
    tag_all(client, repo, ["a", "b", "c"])
    assert_status(client.delete(f"/v2/{repo}/manifests/b"), 202)
    assert page_tags(list_tags(client, repo)) == ["a", "c"]


def test_untagged_manifest_is_not_listed(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "only")
    push_image(client, repo)  # by digest
    assert page_tags(list_tags(client, repo)) == ["only"]


# --- catalog ------------------------------------------------------------------------------------


def catalog_all(client: httpx.Client, n: int = 50) -> list[str]:
    """Every repository, following Link headers page by page."""
    names: list[str] = []
    url: str | None = f"/v2/_catalog?n={n}"
    pages = 0
    while url is not None:
        resp = client.get(url)
        assert_status(resp, 200)
        repositories = resp.json().get("repositories")
        assert isinstance(repositories, list), describe(resp)
        names.extend(str(r) for r in repositories)
        link = next_link(resp)
        url = urljoin(str(resp.request.url), link) if link else None
        pages += 1
        assert pages < 10_000, "catalog pagination does not end"
    return names


def test_catalog_lists_pushed_repository(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    names = catalog_all(client)
    assert repo in names
    assert names == sorted(names), "catalog is not sorted"
    assert len(names) == len(set(names)), "catalog repeats a repository"


def test_repository_without_tags_lists_empty(client: httpx.Client, repo: str) -> None:
    """The repository still exists (it holds a manifest), so 200 with an empty list."""
    push_image(client, repo, "only")
    assert_status(client.delete(f"/v2/{repo}/manifests/only"), 202)
    resp = list_tags(client, repo)
    assert resp.json() == {"name": repo, "tags": []}, describe(resp)
