"""The trust boundary of access control (issue #11, points 4-7 and 11), each attack as it was
reported: a mount that names a readable source but links from everywhere, registry access
tokens opening the management API, refresh tokens outliving a password reset or a disable,
username enumeration by timing and password spraying, and a Host header that picks the
token realm and audience."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from dockyard.access.principals import Principal
from tests.integration.auth_helpers import (
    REFRESH_USERNAME,
    AuthServer,
    basic,
    bearer,
    challenge_of,
    fetch_token,
    nonce,
    start_auth_server,
    token_for,
    unverified,
)
from tests.integration.helpers import (
    assert_error,
    assert_status,
    describe,
    random_bytes,
    upload_blob,
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    # Two worker processes: what one process knows (caches) the other must not contradict.
    server = start_auth_server(
        tmp_path_factory.mktemp("dockyard-access-boundary"),
        workers=2,
        # Many tests here fail logins on purpose from one address; the spraying limit has
        # its own test and server.
        DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS="100000",
    )
    yield server
    server.close()


def refresh_token_of(anon: httpx.Client, srv: AuthServer, username: str, password: str) -> str:
    resp = anon.post(
        "/oauth2/token",
        data={
            "grant_type": "password",
            "service": srv.host,
            "username": username,
            "password": password,
        },
    )
    assert_status(resp, 200)
    token = resp.json().get("refresh_token")
    assert isinstance(token, str), describe(resp)
    assert token, describe(resp)
    return token


def refresh_exchange(anon: httpx.Client, srv: AuthServer, refresh: str) -> httpx.Response:
    return anon.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": srv.host,
            "scope": "repository:any/repo:pull",
        },
    )


# --- 4. cross-repository mount ----------------------------------------------------------------


def test_mount_with_a_second_empty_from_does_not_search_every_repository(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    """`?mount=<digest>&from=<readable>&from=` was checked against the readable source and
    then mounted without a source, from any repository: a push right on one repository read
    a blob of another."""
    n = nonce()
    secret_repo, readable, mine = f"mb{n}/secret", f"mb{n}/readable", f"mb{n}/mine"
    secret = random_bytes(200)
    digest = upload_blob(owner, secret_repo, secret)
    upload_blob(owner, readable, random_bytes(50))
    name, password = srv.user("AcrPush", mine)
    srv.access.roles.assign(name, "AcrPull", readable, "test")
    creds = basic(name, password)
    token = token_for(
        anon,
        creds,
        f"repository:{mine}:pull,push",
        f"repository:{readable}:pull",
        service=srv.host,
    )

    attacks = [
        [("mount", digest), ("from", readable), ("from", "")],
        [("mount", digest), ("from", ""), ("from", readable)],
        [("mount", digest), ("from", readable), ("from", secret_repo)],
        [("mount", digest), ("from", "")],
        [("mount", digest), ("mount", digest), ("from", readable)],
        [("mount", ""), ("from", readable)],
        [("digest", digest), ("digest", digest)],
        [("digest", "")],
    ]
    for headers in (creds, bearer(token)):
        for params in attacks:
            resp = anon.post(f"/v2/{mine}/blobs/uploads/", params=params, headers=headers)
            assert resp.status_code == 400, f"{params} was not refused" + describe(resp)
            assert_error(resp, 400, "UNSUPPORTED", "DIGEST_INVALID")
            head = anon.head(f"/v2/{mine}/blobs/{digest}", headers=headers)
            assert head.status_code == 404, f"{params} linked the secret blob" + describe(head)
    got = anon.get(f"/v2/{mine}/blobs/{digest}", headers=creds)
    assert secret not in got.content

    # The ordinary forms still work: a mount from a readable source, and an upload.
    own = upload_blob(owner, readable, random_bytes(64))
    resp = anon.post(
        f"/v2/{mine}/blobs/uploads/", params={"mount": own, "from": readable}, headers=creds
    )
    assert_status(resp, 201)
    resp = anon.post(f"/v2/{mine}/blobs/uploads/", params={"mount": digest}, headers=creds)
    assert_status(resp, 202)
    assert_status(anon.head(f"/v2/{mine}/blobs/{digest}", headers=creds), 404)


# --- 5. registry tokens on the management API --------------------------------------------------


def test_registry_access_token_does_not_open_the_management_api(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    """The token docker gets for `repository:a/x:pull` opened /api/v1/users and created a
    user."""
    pull_token = token_for(anon, srv.owner(), "repository:a/x:pull", service=srv.host)
    catalog_token = token_for(anon, srv.owner(), "registry:catalog:*", service=srv.host)
    victim = f"made{nonce()}"
    for token in (pull_token, catalog_token):
        assert_error(anon.get("/api/v1/users", headers=bearer(token)), 401, "UNAUTHORIZED")
        created = anon.post("/api/v1/users", json={"name": victim}, headers=bearer(token))
        assert_error(created, 401, "UNAUTHORIZED")
    assert victim not in {u["name"] for u in owner.get("/api/v1/users").json()}

    # A management-scoped token opens it, within the holder's management rights.
    resp = fetch_token(anon, srv.owner(), "registry:management:*", service=srv.host)
    assert_status(resp, 200)
    manage = resp.json()["token"]
    entries = unverified(manage)[1]["access"]
    assert {"type": "registry", "name": "management", "actions": ["read", "write"]} in entries
    assert_status(anon.get("/api/v1/users", headers=bearer(manage)), 200)
    made = anon.post("/api/v1/users", json={"name": victim}, headers=bearer(manage))
    assert_status(made, 201)
    read_only = token_for(anon, srv.owner(), "registry:management:read", service=srv.host)
    assert_status(anon.get("/api/v1/users", headers=bearer(read_only)), 200)
    refused = anon.post("/api/v1/users", json={"name": f"x{nonce()}"}, headers=bearer(read_only))
    assert_error(refused, 403, "DENIED")

    # Only principals with management rights get the scope granted.
    reader, reader_password = srv.user("Reader")
    token = token_for(
        anon, basic(reader, reader_password), "registry:management:*", service=srv.host
    )
    assert unverified(token)[1]["access"] == [
        {"type": "registry", "name": "management", "actions": ["read"]}
    ]
    assert_status(anon.get("/api/v1/users", headers=bearer(token)), 200)
    assert_error(
        anon.post("/api/v1/users", json={"name": f"x{nonce()}"}, headers=bearer(token)),
        403,
        "DENIED",
    )
    puller, puller_password = srv.user("AcrPush", "a/x")
    token = token_for(
        anon, basic(puller, puller_password), "registry:management:*", service=srv.host
    )
    assert not any(e.get("actions") for e in unverified(token)[1]["access"])
    assert_error(anon.get("/api/v1/users", headers=bearer(token)), 401, "UNAUTHORIZED")
    # And a management token is no registry token.
    assert_error(anon.get("/v2/a/x/tags/list", headers=bearer(manage)), 401, "UNAUTHORIZED")

    # What the CLI sends (Basic, or a refresh token as Basic) keeps working.
    refresh = refresh_token_of(anon, srv, "owner", srv.owner_password)
    assert_status(anon.get("/api/v1/users", headers=basic(REFRESH_USERNAME, refresh)), 200)
    assert_status(owner.get("/api/v1/users"), 200)


# --- 6. credential generations ------------------------------------------------------------------


def test_password_reset_ends_refresh_tokens(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    name, password = srv.user("AcrPull", "r/x")
    refresh = refresh_token_of(anon, srv, name, password)
    access = token_for(anon, basic(name, password), "repository:r/x:pull", service=srv.host)
    assert_status(refresh_exchange(anon, srv, refresh), 200)
    assert_status(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)), 200)

    new_password = owner.post(f"/api/v1/users/{name}/password").json()["password"]
    assert_error(refresh_exchange(anon, srv, refresh), 401, "UNAUTHORIZED")
    assert_error(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)), 401, "UNAUTHORIZED")
    assert_error(anon.get("/v2/r/x/tags/list", headers=bearer(access)), 401, "UNAUTHORIZED")
    # The new password, and what it gets, work.
    fresh = refresh_token_of(anon, srv, name, new_password)
    assert_status(refresh_exchange(anon, srv, fresh), 200)


def test_token_password_regeneration_ends_refresh_tokens(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    name, password = srv.token(["repositories/r/x/content/read"])
    refresh = refresh_token_of(anon, srv, name, password)
    assert_status(refresh_exchange(anon, srv, refresh), 200)
    resp = owner.post(f"/api/v1/tokens/{name}/credentials", json={"password": 1})
    assert_status(resp, 200)
    assert_error(refresh_exchange(anon, srv, refresh), 401, "UNAUTHORIZED")
    assert_error(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)), 401, "UNAUTHORIZED")


def test_admin_password_renewal_ends_refresh_tokens(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    enabled = owner.post("/api/v1/admin/enable")
    assert_status(enabled, 200)
    try:
        passwords = {p["name"]: p["value"] for p in enabled.json().get("passwords", [])}
        admin_password = (
            passwords.get("password")
            or owner.post("/api/v1/admin/credentials/1/regenerate").json()["passwords"][0]["value"]
        )
        refresh = refresh_token_of(anon, srv, "admin", admin_password)
        assert_status(refresh_exchange(anon, srv, refresh), 200)
        assert_status(owner.post("/api/v1/admin/credentials/2/regenerate"), 200)
        assert_error(refresh_exchange(anon, srv, refresh), 401, "UNAUTHORIZED")
    finally:
        assert_status(owner.post("/api/v1/admin/disable"), 200)


@pytest.mark.parametrize("what", ["user", "token"])
def test_disable_takes_effect_at_once_on_every_worker(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client, what: str
) -> None:
    """Two worker processes, each having just seen the identity enabled: the request right
    after the disable is refused, whichever process answers it, and re-enabling does not
    bring back what was handed out before."""
    repo = f"d{nonce()}/app"
    upload_blob(owner, repo, random_bytes(32))
    if what == "user":
        name, password = srv.user("AcrPull", repo)
    else:
        name, password = srv.token([f"repositories/{repo}/content/read"])
    creds = basic(name, password)
    refresh = refresh_token_of(anon, srv, name, password)
    access = token_for(anon, creds, f"repository:{repo}:pull", service=srv.host)
    credentials = {
        "basic": creds,
        "refresh": basic(REFRESH_USERNAME, refresh),
        "access": bearer(access),
    }
    rounds = 12  # connections are new each time: both processes answer some
    for _ in range(rounds):
        for headers in credentials.values():
            with httpx.Client(base_url=srv.url, timeout=60) as fresh:
                assert_status(fresh.get(f"/v2/{repo}/tags/list", headers=headers), 200)

    assert_status(owner.post(f"/api/v1/{what}s/{name}/disable"), 200)
    let_through = []
    for round_number in range(rounds):
        for kind, headers in credentials.items():
            if kind == "basic" and round_number >= 4:
                continue  # a refused login counts as a failed one: stay below the limit
            with httpx.Client(base_url=srv.url, timeout=60) as fresh:
                resp = fresh.get(f"/v2/{repo}/tags/list", headers=headers)
            if resp.status_code != 401:
                let_through.append(f"{kind}: {resp.status_code}")
        with httpx.Client(base_url=srv.url, timeout=60) as fresh:
            resp = refresh_exchange(fresh, srv, refresh)
        if resp.status_code != 401:
            let_through.append(f"refresh exchange: {resp.status_code}")
    assert not let_through, f"a disabled {what} still got in: {let_through}"

    assert_status(owner.post(f"/api/v1/{what}s/{name}/enable"), 200)
    assert_status(anon.get(f"/v2/{repo}/tags/list", headers=creds), 200)
    assert_error(refresh_exchange(anon, srv, refresh), 401, "UNAUTHORIZED")
    assert_error(anon.get(f"/v2/{repo}/tags/list", headers=bearer(access)), 401, "UNAUTHORIZED")


# --- 7. username enumeration and password spraying ---------------------------------------------


def test_unknown_usernames_take_as_long_as_known_ones(srv: AuthServer, anon: httpx.Client) -> None:
    """A wrong password took 120 ms for a known user and 3 ms for an unknown one."""
    rounds = 9
    known = [srv.user("AcrPull", "t/x")[0] for _ in range(rounds)]
    disabled = srv.user("AcrPull", "t/x")[0]
    srv.access.users.set_enabled(disabled, False, "test")

    def timed(username: str) -> float:
        started = time.perf_counter()
        resp = anon.get("/v2/", headers=basic(username, f"wrong-{nonce()}"))
        elapsed = time.perf_counter() - started
        assert_error(resp, 401, "UNAUTHORIZED")
        return elapsed

    timed(f"warmup{nonce()}")
    known_times, unknown_times, disabled_times = [], [], []
    for name in known:  # interleaved, so that load on the machine hits both alike
        known_times.append(timed(name))
        unknown_times.append(timed(f"ghost{nonce()}"))
    for _ in range(3):
        disabled_times.append(timed(disabled))
    known_median = statistics.median(known_times)
    unknown_median = statistics.median(unknown_times)
    disabled_median = statistics.median(disabled_times)
    report = (
        f"known {known_median * 1000:.1f} ms, unknown {unknown_median * 1000:.1f} ms, "
        f"disabled {disabled_median * 1000:.1f} ms"
    )
    assert unknown_median > known_median / 3, report
    assert disabled_median > known_median / 3, report
    assert unknown_median < known_median * 3, report


# --- 11. the realm and the audience -------------------------------------------------------------


def test_host_header_chooses_neither_realm_nor_audience(
    srv: AuthServer, anon: httpx.Client
) -> None:
    evil = "evil.example:443"
    challenge = challenge_of(anon.get("/v2/", headers={"Host": evil}))
    assert challenge["service"] == srv.host, challenge
    # A token asked for through a forged Host is for this registry's audience, or refused.
    resp = anon.get(
        "/oauth2/token",
        params={"scope": "repository:h/x:pull"},
        headers={**srv.owner(), "Host": evil},
    )
    assert_status(resp, 200)
    assert unverified(resp.json()["token"])[1]["aud"] == srv.host
    resp = anon.get(
        "/oauth2/token",
        params={"service": evil, "scope": "repository:h/x:pull"},
        headers={**srv.owner(), "Host": evil},
    )
    assert_error(resp, 401, "UNAUTHORIZED")
    # A genuine signature for another audience does not verify, whatever the Host says.
    foreign, _ = srv.signer.issue_access(
        "user:owner",
        evil,
        [{"type": "repository", "name": "h/x", "actions": ["pull", "push"]}],
        srv.access.status.generation(Principal("user", "owner")) or "",
    )
    resp = anon.post("/v2/h/x/blobs/uploads/", headers={**bearer(foreign), "Host": evil})
    assert_error(resp, 401, "UNAUTHORIZED")
