"""The Docker token authentication protocol on an auth-enabled server: Bearer challenges that
name the scope a request needs, the token service (GET and the OAuth2 POST flavour), refresh
tokens, Basic credentials on /v2, 401 versus 403, the filtered catalog, and cross-repository
mounts from repositories the caller cannot read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest

from tests.integration.auth_helpers import (
    REFRESH_USERNAME,
    AuthServer,
    basic,
    bearer,
    challenge_of,
    fetch_token,
    granted,
    nonce,
    start_auth_server,
    token_for,
    unverified,
)
from tests.integration.helpers import (
    OCI_MANIFEST,
    assert_error,
    assert_status,
    describe,
    image_manifest,
    push,
    push_image,
    random_bytes,
    unique_digest,
    upload_blob,
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("dockyard-auth-protocol"), workers=2)
    yield server
    server.close()


def expected_challenge(srv: AuthServer, scope: str | None = None, error: str | None = None) -> str:
    value = f'Bearer realm="{srv.realm}",service="{srv.host}"'
    if scope is not None:
        value += f',scope="{scope}"'
    if error is not None:
        value += f',error="{error}"'
    return value


# --- challenges ---------------------------------------------------------------------------------


def test_base_without_credentials_is_challenged(srv: AuthServer, anon: httpx.Client) -> None:
    resp = anon.get("/v2/")
    assert_error(resp, 401, "UNAUTHORIZED")
    assert resp.headers.get("www-authenticate") == expected_challenge(srv), describe(resp)
    assert resp.headers.get("docker-distribution-api-version") == "registry/2.0", describe(resp)

    head = anon.head("/v2/")
    assert_status(head, 401)
    assert head.headers.get("www-authenticate") == expected_challenge(srv), describe(head)
    assert head.content == b""


def test_healthz_and_token_service_are_not_guarded(anon: httpx.Client) -> None:
    assert_status(anon.get("/healthz"), 200)
    # The token service answers (with its own refusal), never a Bearer challenge loop.
    resp = anon.get("/oauth2/token", params={"scope": "repository:x:pull"})
    assert_error(resp, 401, "UNAUTHORIZED")


REPO = "proj/app"
DIGEST = "sha256:" + "ab" * 32
CHALLENGES = [
    ("GET", f"/v2/{REPO}/manifests/latest", f"repository:{REPO}:pull"),
    ("HEAD", f"/v2/{REPO}/manifests/latest", f"repository:{REPO}:pull"),
    ("GET", f"/v2/{REPO}/manifests/{DIGEST}", f"repository:{REPO}:pull"),
    ("GET", f"/v2/{REPO}/blobs/{DIGEST}", f"repository:{REPO}:pull"),
    ("HEAD", f"/v2/{REPO}/blobs/{DIGEST}", f"repository:{REPO}:pull"),
    ("GET", f"/v2/{REPO}/tags/list", f"repository:{REPO}:pull"),
    ("GET", f"/v2/{REPO}/referrers/{DIGEST}", f"repository:{REPO}:pull"),
    ("POST", f"/v2/{REPO}/blobs/uploads/", f"repository:{REPO}:pull,push"),
    # A mount needs pull,push on the target; the source is checked once the caller is known.
    (
        "POST",
        f"/v2/{REPO}/blobs/uploads/?mount={DIGEST}&from=other/repo",
        f"repository:{REPO}:pull,push",
    ),
    ("PATCH", f"/v2/{REPO}/blobs/uploads/0123abcd", f"repository:{REPO}:pull,push"),
    ("PUT", f"/v2/{REPO}/blobs/uploads/0123abcd?digest={DIGEST}", f"repository:{REPO}:pull,push"),
    ("GET", f"/v2/{REPO}/blobs/uploads/0123abcd", f"repository:{REPO}:pull,push"),
    ("DELETE", f"/v2/{REPO}/blobs/uploads/0123abcd", f"repository:{REPO}:pull,push"),
    ("PUT", f"/v2/{REPO}/manifests/latest", f"repository:{REPO}:pull,push"),
    ("DELETE", f"/v2/{REPO}/manifests/{DIGEST}", f"repository:{REPO}:delete"),
    ("DELETE", f"/v2/{REPO}/blobs/{DIGEST}", f"repository:{REPO}:delete"),
    ("GET", "/v2/_catalog", "registry:catalog:*"),
    ("DELETE", f"/acr/v1/{REPO}", f"repository:{REPO}:delete"),
    ("GET", "/v2/single/tags/list", "repository:single:pull"),
    ("GET", "/v2/a/b/c/d/manifests/v1", "repository:a/b/c/d:pull"),
]


@pytest.mark.parametrize(("method", "path", "scope"), CHALLENGES)
def test_challenge_names_the_needed_scope(
    srv: AuthServer, anon: httpx.Client, method: str, path: str, scope: str
) -> None:
    resp = anon.request(method, path, content=b"" if method in ("POST", "PUT", "PATCH") else None)
    params = challenge_of(resp)
    assert params == {"realm": srv.realm, "service": srv.host, "scope": scope}, describe(resp)
    if method != "HEAD":
        assert_error(resp, 401, "UNAUTHORIZED")


def test_wrong_password_on_v2_is_challenged(srv: AuthServer, anon: httpx.Client) -> None:
    name, _ = srv.user("AcrPull")
    resp = anon.get(f"/v2/{REPO}/tags/list", headers=basic(name, "not-the-password"))
    assert_error(resp, 401, "UNAUTHORIZED")
    assert challenge_of(resp)["scope"] == f"repository:{REPO}:pull"


# --- the token service ----------------------------------------------------------------------------


def test_get_token_with_basic_credentials(srv: AuthServer, anon: httpx.Client) -> None:
    repo = f"tok/{nonce()}"
    before = int(time.time())
    resp = fetch_token(
        anon, srv.owner(), f"repository:{repo}:pull,push", service=srv.host, client_id="tests"
    )
    assert_status(resp, 200)
    assert resp.headers.get("content-type", "").startswith("application/json"), describe(resp)
    assert "no-store" in resp.headers.get("cache-control", ""), describe(resp)
    body = resp.json()
    token = body["token"]
    assert body["access_token"] == token
    assert isinstance(body["expires_in"], int)
    assert 60 <= body["expires_in"] <= 3600, body
    assert "refresh_token" not in body, "no refresh token without offline_token=true"

    header, claims = unverified(token)
    assert header["alg"] == "ES256"
    assert isinstance(header.get("kid"), str)
    assert header["kid"]
    assert isinstance(claims["iss"], str)
    assert claims["iss"]
    assert "owner" in claims["sub"]
    assert claims["aud"] == srv.host
    assert before - 5 <= claims["exp"] - body["expires_in"] <= int(time.time()) + 5
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]
    # The server's own keys (shared through the database) verify it.
    assert srv.signer.verify_access(token, srv.host)["access"] == claims["access"]

    # A scope-less token (what `docker login` asks for) opens /v2/ and nothing else.
    plain = token_for(anon, srv.owner(), service=srv.host)
    assert unverified(plain)[1]["access"] == []
    assert_status(anon.get("/v2/", headers=bearer(plain)), 200)
    resp = anon.get(f"/v2/{repo}/tags/list", headers=bearer(plain))
    assert challenge_of(resp).get("error") == "insufficient_scope", describe(resp)


def test_get_token_without_service_parameter(srv: AuthServer, anon: httpx.Client) -> None:
    resp = fetch_token(anon, srv.owner(), "repository:x/y:pull")
    assert_status(resp, 200)
    assert unverified(resp.json()["token"])[1]["aud"] == srv.host


def test_get_token_offline_gives_refresh_token(srv: AuthServer, anon: httpx.Client) -> None:
    resp = fetch_token(
        anon, srv.owner(), service=srv.host, offline_token="true", client_id="docker"
    )
    assert_status(resp, 200)
    refresh = resp.json().get("refresh_token")
    assert isinstance(refresh, str), describe(resp)
    assert refresh
    # A refresh token is no access token.
    resp = anon.get("/v2/", headers=bearer(refresh))
    assert_error(resp, 401, "UNAUTHORIZED")


def test_token_grants_only_the_intersection(srv: AuthServer, anon: httpx.Client) -> None:
    n = nonce()
    mine, other, team = f"mine{n}/app", f"other{n}/app", f"team{n}"
    name, password = srv.user("AcrPull", mine)
    srv.access.roles.assign(name, "AcrPush", f"{team}/*", "test")
    token = token_for(
        anon,
        basic(name, password),
        f"repository:{mine}:pull,push,delete",
        f"repository:{other}:pull",
        f"repository:{team}/svc:*",
        f"repository:{team}x/svc:pull",
        service=srv.host,
    )
    got = granted(token)
    assert got.get(mine) == {"pull"}, got
    assert not got.get(other), got
    assert got.get(f"{team}/svc") == {"pull", "push"}, got
    assert not got.get(f"{team}x/svc"), got
    # Nothing is granted that was not asked for.
    assert set(got) <= {mine, other, f"{team}/svc", f"{team}x/svc"}, got

    # Several scopes in one space-separated parameter are honoured as well.
    resp = fetch_token(
        anon, basic(name, password), f"repository:{mine}:pull repository:{other}:pull"
    )
    assert_status(resp, 200)
    got = granted(resp.json()["token"])
    assert got.get(mine) == {"pull"}
    assert not got.get(other)


def test_token_request_with_bad_scope_is_rejected(srv: AuthServer, anon: httpx.Client) -> None:
    for scope in ("repository:UPPER:pull", "nonsense", "registry:secrets:*"):
        resp = fetch_token(anon, srv.owner(), scope, service=srv.host)
        assert_error(resp, 400)


def test_post_password_grant(srv: AuthServer, owner: httpx.Client, anon: httpx.Client) -> None:
    repo = f"post/{nonce()}"
    push_image(owner, repo, "v1")
    name, password = srv.user("AcrPull", repo)
    resp = anon.post(
        "/oauth2/token",
        data={
            "grant_type": "password",
            "username": name,
            "password": password,
            "service": srv.host,
            "scope": f"repository:{repo}:pull,push",
            "client_id": "tests",
            "access_type": "offline",
        },
    )
    assert_status(resp, 200)
    body = resp.json()
    access = body["access_token"]
    assert isinstance(body.get("expires_in"), int)
    assert granted(access) == {repo: {"pull"}}
    assert unverified(access)[1]["sub"].endswith(name)
    assert isinstance(body.get("refresh_token"), str), "access_type=offline gives a refresh token"
    assert_status(anon.get(f"/v2/{repo}/manifests/v1", headers=bearer(access)), 200)

    bad = anon.post(
        "/oauth2/token",
        data={
            "grant_type": "password",
            "username": name,
            "password": password + "x",
            "service": srv.host,
            "scope": f"repository:{repo}:pull",
        },
    )
    assert_error(bad, 401, "UNAUTHORIZED")
    assert "access_token" not in bad.text

    unknown = anon.post("/oauth2/token", data={"grant_type": "client_credentials"})
    assert_error(unknown, 400)


def test_post_refresh_grant(srv: AuthServer, owner: httpx.Client, anon: httpx.Client) -> None:
    repo = f"refresh/{nonce()}"
    push_image(owner, repo, "v1")
    name, password = srv.user("AcrPush", repo)
    first = anon.post(
        "/oauth2/token",
        data={
            "grant_type": "password",
            "username": name,
            "password": password,
            "service": srv.host,
            "access_type": "offline",
            "client_id": "tests",
        },
    )
    assert_status(first, 200)
    refresh = first.json()["refresh_token"]
    header, claims = unverified(refresh)
    assert header["alg"] == "ES256"
    assert claims["aud"] == srv.host
    assert claims["exp"] > time.time() + 600, "a refresh token outlives an access token"

    resp = anon.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": srv.host,
            "scope": f"repository:{repo}:pull,push,delete",
            "client_id": "tests",
        },
    )
    assert_status(resp, 200)
    access = resp.json()["access_token"]
    assert granted(access) == {repo: {"pull", "push"}}
    assert_status(anon.get(f"/v2/{repo}/manifests/v1", headers=bearer(access)), 200)
    started = anon.post(f"/v2/{repo}/blobs/uploads/", headers=bearer(access))
    assert_status(started, 202)
    deleted = anon.delete(f"/v2/{repo}/manifests/v1", headers=bearer(access))
    assert challenge_of(deleted)["error"] == "insufficient_scope"

    # A refresh token for another service is refused.
    other = anon.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "elsewhere"},
    )
    assert_error(other, 401, "UNAUTHORIZED")


def test_refresh_token_as_basic_password(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    repo = f"nullguid/{nonce()}"
    push_image(owner, repo, "v1")
    name, password = srv.user("AcrPull", repo)
    resp = fetch_token(anon, basic(name, password), service=srv.host, offline_token="true")
    assert_status(resp, 200)
    refresh = resp.json()["refresh_token"]
    creds = basic(REFRESH_USERNAME, refresh)

    assert_status(anon.get("/v2/", headers=creds), 200)
    assert_status(anon.get(f"/v2/{repo}/manifests/v1", headers=creds), 200)
    tags = anon.get(f"/v2/{repo}/tags/list", headers=creds)
    assert_status(tags, 200)
    assert tags.json()["tags"] == ["v1"]
    # Its rights are the user's: no push.
    refused = anon.post(f"/v2/{repo}/blobs/uploads/", headers=creds)
    assert_error(refused, 403, "DENIED")

    # And on the token service, as docker does with a stored identity token.
    token = token_for(anon, creds, f"repository:{repo}:pull,push", service=srv.host)
    assert granted(token) == {repo: {"pull"}}
    assert unverified(token)[1]["sub"].endswith(name)

    # Any other username with the refresh token is just a wrong password.
    wrong = anon.get("/v2/", headers=basic(name, refresh))
    assert_error(wrong, 401, "UNAUTHORIZED")


def test_basic_credentials_directly_on_v2(srv: AuthServer, owner: httpx.Client) -> None:
    repo = f"basic/{nonce()}"
    assert_status(owner.get("/v2/"), 200)
    pushed = push_image(owner, repo, "v1")
    resp = owner.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert_status(resp, 200)
    assert resp.content == pushed.body
    blob = owner.get(f"/v2/{repo}/blobs/{pushed.blobs[0]}")
    assert_status(blob, 200)
    assert_status(owner.delete(f"/v2/{repo}/manifests/{pushed.digest}"), 202)


def test_known_user_without_rights_gets_403(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    repo = f"norights/{nonce()}"
    pushed = push_image(owner, repo, "v1")
    name, password = srv.user()
    creds = basic(name, password)
    assert_status(anon.get("/v2/", headers=creds), 200)  # the login check passes
    for method, path in (
        ("GET", f"/v2/{repo}/manifests/v1"),
        ("GET", f"/v2/{repo}/tags/list"),
        ("GET", f"/v2/{repo}/blobs/{pushed.blobs[0]}"),
        ("POST", f"/v2/{repo}/blobs/uploads/"),
        ("DELETE", f"/v2/{repo}/manifests/{pushed.digest}"),
    ):
        resp = anon.request(method, path, headers=creds)
        assert_error(resp, 403, "DENIED")
        assert "www-authenticate" not in resp.headers, describe(resp)

    puller, pull_password = srv.user("AcrPull", repo)
    pull_creds = basic(puller, pull_password)
    assert_status(anon.get(f"/v2/{repo}/manifests/v1", headers=pull_creds), 200)
    assert_error(anon.post(f"/v2/{repo}/blobs/uploads/", headers=pull_creds), 403, "DENIED")
    resp = anon.delete(f"/v2/{repo}/manifests/{pushed.digest}", headers=pull_creds)
    assert_error(resp, 403, "DENIED")
    # Still there.
    assert_status(owner.get(f"/v2/{repo}/manifests/v1"), 200)


def test_bearer_token_lacking_scope_gets_insufficient_scope(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    repo, other = f"scoped/{nonce()}", f"scoped/{nonce()}"
    push_image(owner, repo, "v1")
    push_image(owner, other, "v1")
    token = token_for(anon, srv.owner(), f"repository:{repo}:pull", service=srv.host)
    headers = bearer(token)
    assert_status(anon.get(f"/v2/{repo}/manifests/v1", headers=headers), 200)

    resp = anon.post(f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert_error(resp, 401, "UNAUTHORIZED")
    assert resp.headers["www-authenticate"] == expected_challenge(
        srv, f"repository:{repo}:pull,push", "insufficient_scope"
    ), describe(resp)

    resp = anon.get(f"/v2/{other}/manifests/v1", headers=headers)
    assert resp.headers.get("www-authenticate") == expected_challenge(
        srv, f"repository:{other}:pull", "insufficient_scope"
    ), describe(resp)
    assert_error(resp, 401, "UNAUTHORIZED")

    resp = anon.get("/v2/_catalog", headers=headers)
    assert resp.headers.get("www-authenticate") == expected_challenge(
        srv, "registry:catalog:*", "insufficient_scope"
    ), describe(resp)


def test_bearer_token_of_user_without_rights_is_empty(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    repo = f"empty/{nonce()}"
    push_image(owner, repo, "v1")
    name, password = srv.user()
    token = token_for(anon, basic(name, password), f"repository:{repo}:pull", service=srv.host)
    assert not granted(token).get(repo)
    resp = anon.get(f"/v2/{repo}/manifests/v1", headers=bearer(token))
    assert challenge_of(resp).get("error") == "insufficient_scope"
    assert_error(resp, 401, "UNAUTHORIZED")


# --- the catalog ----------------------------------------------------------------------------------


def catalog_pages(http: httpx.Client, headers: dict[str, str], n: int) -> list[httpx.Response]:
    pages: list[httpx.Response] = []
    url: str | None = f"/v2/_catalog?n={n}"
    while url is not None and len(pages) < 500:
        resp = http.get(url, headers=headers)
        assert_status(resp, 200)
        pages.append(resp)
        link = resp.headers.get("link")
        url = None
        if link:
            url = urljoin(str(resp.request.url), link.split(";")[0].strip().strip("<>"))
    return pages


def test_catalog_lists_only_readable_repositories(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    n = nonce()
    readable = f"cat{n}/b-readable"
    hidden = [f"cat{n}/a-hidden", f"cat{n}/c-hidden", f"cat{n}/d-hidden", f"cat{n}b/readable"]
    for repo in [readable, *hidden]:
        push_image(owner, repo, "v1")
    name, password = srv.user("AcrPull", readable)
    creds = basic(name, password)

    everything = [
        r for p in catalog_pages(anon, srv.owner(), 1000) for r in p.json()["repositories"]
    ]
    assert readable in everything
    assert set(hidden) <= set(everything)

    resp = anon.get("/v2/_catalog", params={"n": 10000}, headers=creds)
    assert_status(resp, 200)
    listed = resp.json()["repositories"]
    assert readable in listed
    assert not set(hidden) & set(listed), listed

    token = token_for(anon, creds, "registry:catalog:*", service=srv.host)
    resp = anon.get("/v2/_catalog", params={"n": 10000}, headers=bearer(token))
    assert_status(resp, 200)
    listed = resp.json()["repositories"]
    assert readable in listed
    assert not set(hidden) & set(listed), listed


def test_catalog_pages_do_not_reveal_hidden_names(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    """Paging a filtered catalog must not leak unreadable names (e.g. in the Link `last=`)."""
    n = nonce()
    readable = [f"leak{n}/a-readable", f"leak{n}/d-readable"]
    hidden = [f"leak{n}/b-secret", f"leak{n}/c-secret", f"leak{n}/e-secret"]
    for repo in sorted([*readable, *hidden]):
        push_image(owner, repo, "v1")
    name, password = srv.user("AcrPull", readable[0])
    srv.access.roles.assign(name, "AcrPull", readable[1], "test")
    pages = catalog_pages(anon, basic(name, password), 1)
    listed = [page.json()["repositories"] for page in pages]
    assert [r for items in listed for r in items] == readable, listed
    # Pages are filled with readable names (only the very last one may come back empty).
    assert all(len(items) == 1 for items in listed[:-1]), listed
    for page in pages:
        text = page.headers.get("link", "") + page.text
        for secret in hidden:
            for form in (secret, secret.replace("/", "%2F")):
                assert form not in text, f"unreadable repository {secret!r} revealed" + (
                    describe(page)
                )


def test_repository_scoped_token_cannot_list_catalog(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    repo = f"tokcat/{nonce()}"
    push_image(owner, repo, "v1")
    name, password = srv.token([f"repositories/{repo}/content/read"])
    creds = basic(name, password)
    assert_status(anon.get(f"/v2/{repo}/tags/list", headers=creds), 200)
    assert_error(anon.get("/v2/_catalog", headers=creds), 403, "DENIED")

    resp = fetch_token(anon, creds, "registry:catalog:*", f"repository:{repo}:pull")
    assert_status(resp, 200)
    _, claims = unverified(resp.json()["token"])
    assert not [e for e in claims["access"] if e.get("type") == "registry" and e.get("actions")], (
        claims
    )
    assert granted(resp.json()["token"]) == {repo: {"pull"}}
    listing = anon.get("/v2/_catalog", headers=bearer(resp.json()["token"]))
    assert_error(listing, 401, "UNAUTHORIZED")
    assert challenge_of(listing).get("error") == "insufficient_scope"


# --- mounts ------------------------------------------------------------------------------------


def test_mount_from_unreadable_repository_falls_back_to_upload(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    n = nonce()
    source, target, allowed = f"mnt{n}/secret", f"mnt{n}/mine", f"mnt{n}/allowed"
    data = random_bytes(256)
    digest = upload_blob(owner, source, data)
    name, password = srv.user("AcrPush", target)
    creds = basic(name, password)

    resp = anon.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source}, headers=creds
    )
    assert_status(resp, 202)
    assert resp.headers.get("location"), describe(resp)
    head = anon.head(f"/v2/{target}/blobs/{digest}", headers=creds)
    assert_status(head, 404)

    # The same through a bearer token (the source scope is simply not granted).
    token = token_for(
        anon, creds, f"repository:{target}:pull,push", f"repository:{source}:pull", service=srv.host
    )
    resp = anon.post(
        f"/v2/{target}/blobs/uploads/",
        params={"mount": digest, "from": source},
        headers=bearer(token),
    )
    assert_status(resp, 202)
    assert_status(anon.head(f"/v2/{target}/blobs/{digest}", headers=bearer(token)), 404)

    # With read access on the source, the mount happens.
    other, other_password = srv.user("AcrPush", allowed)
    srv.access.roles.assign(other, "AcrPull", source, "test")
    resp = anon.post(
        f"/v2/{allowed}/blobs/uploads/",
        params={"mount": digest, "from": source},
        headers=basic(other, other_password),
    )
    assert_status(resp, 201)
    got = anon.get(f"/v2/{allowed}/blobs/{digest}", headers=basic(other, other_password))
    assert_status(got, 200)
    assert got.content == data


def test_push_with_bearer_token_end_to_end(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    """A whole push and pull with one pull,push token, as docker would do it."""
    repo = f"bearer/{nonce()}"
    name, password = srv.user("AcrPush", repo)
    token = token_for(anon, basic(name, password), f"repository:{repo}:pull,push", service=srv.host)
    with httpx.Client(base_url=srv.url, timeout=60, headers=bearer(token)) as http:
        manifest = image_manifest(http, repo)
        push(http, repo, manifest, "v1")
        resp = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert_status(resp, 200)
        assert resp.content == manifest.body
        missing = http.get(f"/v2/{repo}/blobs/{unique_digest()}")
        assert_error(missing, 404, "BLOB_UNKNOWN")


def test_mount_without_source_needs_read_access_to_everything(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    n = nonce()
    source, target = f"mnt{n}/hidden", f"mnt{n}/open"
    digest = upload_blob(owner, source, random_bytes(300))
    name, password = srv.user("AcrPush", target)
    creds = basic(name, password)

    # Knowing a digest is not enough to pull a blob out of a repository one cannot read.
    resp = anon.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest}, headers=creds)
    assert_status(resp, 202)
    assert_status(anon.head(f"/v2/{target}/blobs/{digest}", headers=creds), 404)

    # The Owner reads every repository, so its mount without `from` links the blob.
    resp = owner.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert_status(resp, 201)
    assert_status(owner.head(f"/v2/{target}/blobs/{digest}"), 200)
