"""Bad input gets nothing: forged, tampered, expired and misdirected tokens, scope escalation,
disabled and removed identities, wildcard edges, oversized and malformed credentials, login
rate limiting; every refusal is an OCI error envelope (401/403) and is audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from dockyard.access.principals import Principal
from dockyard.storage.db.schema import signing_keys
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
    assert_error,
    assert_status,
    describe,
    push_image,
    random_bytes,
    upload_blob,
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(
        tmp_path_factory.mktemp("dockyard-auth-attacks"),
        workers=2,
        # Tests here fail logins on purpose, all from 127.0.0.1; the limit per address
        # across usernames has its own test (test_access_boundary.py).
        DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS="100000",
    )
    yield server
    server.close()


@pytest.fixture
def pushed_repo(owner: httpx.Client) -> str:
    repo = f"target/{nonce()}"
    push_image(owner, repo, "v1")
    return repo


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def refused(resp: httpx.Response, status: int = 401) -> None:
    """A refusal in the OCI error envelope (UNAUTHORIZED with a challenge, or DENIED)."""
    code = "UNAUTHORIZED" if status == 401 else "DENIED"
    assert_error(resp, status, code)
    if status == 401 and resp.request.url.path.startswith("/v2"):
        challenge_of(resp)


def real_claims(srv: AuthServer, anon: httpx.Client, repo: str) -> tuple[str, dict[str, Any]]:
    """A genuine pull token for `repo` (asserted to work) and its claims."""
    token = token_for(anon, srv.owner(), f"repository:{repo}:pull", service=srv.host)
    assert_status(anon.get(f"/v2/{repo}/manifests/v1", headers=bearer(token)), 200)
    return token, unverified(token)[1]


def owner_generation(srv: AuthServer) -> str:
    """What the server's tokens for the Owner carry as its generation (`gen`)."""
    generation = srv.access.status.generation(Principal("user", "owner"))
    assert generation is not None
    return generation


def escalated(claims: dict[str, Any], repo: str) -> dict[str, Any]:
    return {
        **claims,
        "access": [{"type": "repository", "name": repo, "actions": ["pull", "push", "delete"]}],
    }


def server_public_pem(srv: AuthServer, kid: str) -> bytes:
    with srv.db.read() as conn:
        pem = conn.execute(
            select(signing_keys.c.private_pem).where(signing_keys.c.kid == kid)
        ).scalar_one()
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def assert_forged_refused(
    srv: AuthServer, anon: httpx.Client, repo: str, forged: str, what: str
) -> None:
    for method, path in (
        ("GET", "/v2/"),
        ("GET", f"/v2/{repo}/manifests/v1"),
        ("POST", f"/v2/{repo}/blobs/uploads/"),
        ("DELETE", f"/v2/{repo}/manifests/v1"),
        ("GET", "/v2/_catalog"),
    ):
        resp = anon.request(method, path, headers=bearer(forged))
        assert resp.status_code == 401, f"{what}: {method} {path} not refused" + describe(resp)
        refused(resp)


# --- forged and misdirected tokens ----------------------------------------------------------


def test_token_signed_by_foreign_key_with_same_kid(
    srv: AuthServer, anon: httpx.Client, pushed_repo: str
) -> None:
    token, claims = real_claims(srv, anon, pushed_repo)
    kid = unverified(token)[0]["kid"]
    attacker = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        escalated(claims, pushed_repo), attacker, algorithm="ES256", headers={"kid": kid}
    )
    assert_forged_refused(srv, anon, pushed_repo, forged, "foreign key, same kid")

    # ... also when the attacker's public key rides along in the header.
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    forged = jwt.encode(
        escalated(claims, pushed_repo),
        attacker,
        algorithm="ES256",
        headers={"kid": kid, "jwk": jwk},
    )
    assert_forged_refused(srv, anon, pushed_repo, forged, "foreign key in jwk header")

    # ... and with no kid, or a kid the server never made.
    for headers in ({}, {"kid": "../../../../etc/passwd"}, {"kid": kid + "x"}):
        forged = jwt.encode(escalated(claims, pushed_repo), attacker, "ES256", headers=headers)
        assert_forged_refused(srv, anon, pushed_repo, forged, f"foreign key, header {headers}")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_token(srv: AuthServer, anon: httpx.Client, pushed_repo: str, alg: str) -> None:
    token, claims = real_claims(srv, anon, pushed_repo)
    kid = unverified(token)[0]["kid"]
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    body = b64url_json(escalated(claims, pushed_repo))
    for forged in (
        f"{b64url_json(header)}.{body}.",
        f"{b64url_json(header)}.{body}.{token.rsplit('.', 1)[1]}",
    ):
        assert_forged_refused(srv, anon, pushed_repo, forged, f"alg={alg}")


def test_hs256_signed_with_public_key(
    srv: AuthServer, anon: httpx.Client, pushed_repo: str
) -> None:
    token, claims = real_claims(srv, anon, pushed_repo)
    kid = unverified(token)[0]["kid"]
    public_pem = server_public_pem(srv, kid)
    # The public key really is the server's: it verifies the genuine token.
    jwt.decode(token, public_pem, algorithms=["ES256"], audience=srv.host)
    header = b64url_json({"alg": "HS256", "typ": "JWT", "kid": kid})
    body = b64url_json(escalated(claims, pushed_repo))
    for secret in (public_pem, public_pem.strip()):
        signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        forged = f"{header}.{body}.{b64url(signature)}"
        assert_forged_refused(srv, anon, pushed_repo, forged, "HS256 with the public key")


def test_tampered_access_claim(srv: AuthServer, anon: httpx.Client, pushed_repo: str) -> None:
    token, claims = real_claims(srv, anon, pushed_repo)
    header, _, signature = token.split(".")
    forged = f"{header}.{b64url_json(escalated(claims, pushed_repo))}.{signature}"
    assert_forged_refused(srv, anon, pushed_repo, forged, "access claim rewritten")


def test_expired_token(srv: AuthServer, anon: httpx.Client, pushed_repo: str) -> None:
    token, claims = real_claims(srv, anon, pushed_repo)
    assert claims["exp"] - claims["iat"] <= 3600, "access tokens are short-lived"
    assert claims["exp"] > time.time()
    access = [{"type": "repository", "name": pushed_repo, "actions": ["pull"]}]

    # Signed in this process with the server's keys (they live in the database): a fresh
    # one works, which shows that the expired one below fails for its expiry alone.
    fresh, _ = srv.signer.issue_access("user:owner", srv.host, access, owner_generation(srv))
    assert_status(anon.get(f"/v2/{pushed_repo}/manifests/v1", headers=bearer(fresh)), 200)

    with mock.patch("dockyard.access.signing.time.time", return_value=time.time() - 3600):
        expired, _ = srv.signer.issue_access("user:owner", srv.host, access, owner_generation(srv))
    assert unverified(expired)[1]["exp"] < time.time()
    resp = anon.get(f"/v2/{pushed_repo}/manifests/v1", headers=bearer(expired))
    refused(resp)
    refused(anon.get("/v2/", headers=bearer(expired)))

    # An expired token signed by a foreign key is refused as well.
    attacker = ec.generate_private_key(ec.SECP256R1())
    old = {**claims, "iat": claims["iat"] - 7200, "nbf": claims["iat"] - 7200}
    old["exp"] = claims["iat"] - 3600
    foreign = jwt.encode(old, attacker, "ES256", headers={"kid": unverified(token)[0]["kid"]})
    refused(anon.get(f"/v2/{pushed_repo}/manifests/v1", headers=bearer(foreign)))


def test_expired_refresh_token(srv: AuthServer, anon: httpx.Client, pushed_repo: str) -> None:
    real_claims(srv, anon, pushed_repo)  # the server has a signing key by now
    fresh = srv.signer.issue_refresh("user:owner", srv.host, owner_generation(srv))
    with mock.patch("dockyard.access.signing.time.time", return_value=time.time() - 4 * 3600):
        expired = srv.signer.issue_refresh("user:owner", srv.host, owner_generation(srv))
    assert_status(anon.get("/v2/", headers=basic(REFRESH_USERNAME, fresh)), 200)

    refused(anon.get("/v2/", headers=basic(REFRESH_USERNAME, expired)))
    resp = anon.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": expired, "service": srv.host},
    )
    assert_error(resp, 401, "UNAUTHORIZED")
    refused(fetch_token(anon, basic(REFRESH_USERNAME, expired), service=srv.host))


def test_token_for_another_service(srv: AuthServer, anon: httpx.Client, pushed_repo: str) -> None:
    token, _ = real_claims(srv, anon, pushed_repo)
    access = [{"type": "repository", "name": pushed_repo, "actions": ["pull"]}]
    elsewhere, _ = srv.signer.issue_access(
        "user:owner", "registry.example.com", access, owner_generation(srv)
    )
    refused(anon.get(f"/v2/{pushed_repo}/manifests/v1", headers=bearer(elsewhere)))
    refused(anon.get("/v2/", headers=bearer(elsewhere)))

    # The token service will not mint tokens for another audience.
    resp = fetch_token(
        anon, srv.owner(), f"repository:{pushed_repo}:pull", service="registry.example.com"
    )
    assert_error(resp, 401, "UNAUTHORIZED")
    assert "token" not in resp.json()

    # The audience is the configured service, never the Host header: a token for another
    # audience is refused even when the Host names that audience, and a genuine token is
    # this registry's under whatever name it is reached.
    resp = anon.get(
        f"/v2/{pushed_repo}/manifests/v1",
        headers={**bearer(elsewhere), "Host": "registry.example.com"},
    )
    assert_error(resp, 401, "UNAUTHORIZED")
    resp = anon.get(
        f"/v2/{pushed_repo}/manifests/v1",
        headers={**bearer(token), "Host": f"localhost:{srv.port}"},
    )
    assert_status(resp, 200)


def test_token_with_wrong_issuer_or_missing_claims(
    srv: AuthServer, anon: httpx.Client, pushed_repo: str
) -> None:
    _, claims = real_claims(srv, anon, pushed_repo)
    variants = {
        "issuer": {**claims, "iss": "someone-else"},
        "no exp": {k: v for k, v in claims.items() if k != "exp"},
        "no sub": {k: v for k, v in claims.items() if k != "sub"},
        "unknown subject": {**claims, "sub": "user:nobody-" + nonce()},
        "bad subject": {**claims, "sub": "root"},
        "future nbf": {**claims, "nbf": int(time.time()) + 3600},
    }
    for what, bad in variants.items():
        forged = srv.signer._sign(bad)  # the server's own key, wrong content
        resp = anon.get(f"/v2/{pushed_repo}/manifests/v1", headers=bearer(forged))
        assert resp.status_code == 401, f"{what}: accepted" + describe(resp)
        refused(resp)


def test_refresh_and_access_tokens_are_not_interchangeable(
    srv: AuthServer, anon: httpx.Client, pushed_repo: str
) -> None:
    token, _ = real_claims(srv, anon, pushed_repo)
    resp = fetch_token(anon, srv.owner(), service=srv.host, offline_token="true")
    refresh = resp.json()["refresh_token"]
    refused(anon.get("/v2/", headers=bearer(refresh)))
    refused(anon.get(f"/v2/{pushed_repo}/manifests/v1", headers=bearer(refresh)))
    refused(anon.get("/v2/", headers=basic(REFRESH_USERNAME, token)))
    resp = anon.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "service": srv.host},
    )
    assert_error(resp, 401, "UNAUTHORIZED")


# --- scope escalation -------------------------------------------------------------------------


def test_pull_token_cannot_push_or_delete(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client, pushed_repo: str
) -> None:
    token = token_for(anon, srv.owner(), f"repository:{pushed_repo}:pull", service=srv.host)
    headers = bearer(token)
    data = random_bytes(64)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    for method, path, kwargs in (
        ("POST", f"/v2/{pushed_repo}/blobs/uploads/", {}),
        ("POST", f"/v2/{pushed_repo}/blobs/uploads/?digest={digest}", {"content": data}),
        ("PUT", f"/v2/{pushed_repo}/manifests/evil", {"content": b"{}"}),
        ("DELETE", f"/v2/{pushed_repo}/manifests/v1", {}),
    ):
        resp = anon.request(method, path, headers=headers, **kwargs)
        refused(resp)
        assert challenge_of(resp).get("error") == "insufficient_scope", describe(resp)
    assert_status(owner.head(f"/v2/{pushed_repo}/blobs/{digest}"), 404)
    assert_status(owner.get(f"/v2/{pushed_repo}/manifests/v1"), 200)
    assert_status(owner.get(f"/v2/{pushed_repo}/manifests/evil"), 404)


def test_upload_session_cannot_be_continued_with_a_pull_token(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client, pushed_repo: str
) -> None:
    started = owner.post(f"/v2/{pushed_repo}/blobs/uploads/")
    assert_status(started, 202)
    location = started.headers["location"]
    token = token_for(anon, srv.owner(), f"repository:{pushed_repo}:pull", service=srv.host)
    resp = anon.patch(location, content=b"x" * 10, headers=bearer(token))
    refused(resp)


def test_token_for_one_repository_is_useless_on_another(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    a, b = f"esc/{nonce()}", f"esc/{nonce()}"
    push_image(owner, a, "v1")
    push_image(owner, b, "v1")
    token = token_for(anon, srv.owner(), f"repository:{a}:pull,push,delete", service=srv.host)
    for method, path in (
        ("GET", f"/v2/{b}/manifests/v1"),
        ("GET", f"/v2/{b}/tags/list"),
        ("POST", f"/v2/{b}/blobs/uploads/"),
        ("DELETE", f"/v2/{b}/manifests/v1"),
        # Names that merely start like `a`, walk out of it, or differ in case.
        ("GET", f"/v2/{a}x/tags/list"),
        ("GET", f"/v2/{a}/../{b.split('/')[1]}/tags/list"),
        ("GET", f"/v2/{a.upper()}/tags/list"),
    ):
        resp = anon.request(method, path, headers=bearer(token))
        assert resp.status_code == 401, f"{method} {path}" + describe(resp)
        refused(resp)
    assert_status(owner.get(f"/v2/{b}/manifests/v1"), 200)


def test_user_cannot_mint_rights_it_does_not_hold(
    srv: AuthServer, anon: httpx.Client, pushed_repo: str
) -> None:
    name, password = srv.user("AcrPull", pushed_repo)
    token = token_for(
        anon,
        basic(name, password),
        f"repository:{pushed_repo}:push,delete,*",
        f"repository:{pushed_repo}:metadata_write",
        service=srv.host,
    )
    assert granted(token).get(pushed_repo, set()) <= {"pull"}, granted(token)
    resp = anon.post(f"/v2/{pushed_repo}/blobs/uploads/", headers=bearer(token))
    refused(resp)
    resp = anon.delete(f"/v2/{pushed_repo}/manifests/v1", headers=bearer(token))
    refused(resp)
    # A wildcard repository name is no scope at all.
    resp = fetch_token(anon, basic(name, password), "repository:*:pull", service=srv.host)
    if resp.status_code == 200:
        assert not any(granted(resp.json()["token"]).values()), resp.json()
    else:
        assert_error(resp, 400)


# --- disabled and removed identities -----------------------------------------------------------


def test_disabled_repository_token(srv: AuthServer, anon: httpx.Client, pushed_repo: str) -> None:
    name, password = srv.token([f"repositories/{pushed_repo}/content/read"])
    creds = basic(name, password)
    assert_status(anon.get(f"/v2/{pushed_repo}/tags/list", headers=creds), 200)
    token = token_for(anon, creds, f"repository:{pushed_repo}:pull", service=srv.host)
    resp = fetch_token(anon, creds, service=srv.host, offline_token="true")
    refresh = resp.json()["refresh_token"]
    assert_status(anon.get(f"/v2/{pushed_repo}/tags/list", headers=bearer(token)), 200)

    srv.access.tokens.set_enabled(name, False, "test")
    # Logging in stops at once.
    refused(anon.get("/v2/", headers=creds))
    refused(anon.get(f"/v2/{pushed_repo}/tags/list", headers=creds))
    assert_error(fetch_token(anon, creds, f"repository:{pushed_repo}:pull"), 401, "UNAUTHORIZED")
    # Tokens already handed out stop at once too.
    refused(anon.get(f"/v2/{pushed_repo}/tags/list", headers=bearer(token)))
    refused(anon.get("/v2/", headers=bearer(token)))
    refused(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)))
    resp = anon.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": srv.host},
    )
    assert_error(resp, 401, "UNAUTHORIZED")

    # Enabled again, the token logs in; what was handed out before the disable stays dead.
    srv.access.tokens.set_enabled(name, True, "test")
    assert_status(anon.get(f"/v2/{pushed_repo}/tags/list", headers=creds), 200)
    refused(anon.get(f"/v2/{pushed_repo}/tags/list", headers=bearer(token)))
    refused(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)))


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_disabled_or_removed_user(
    srv: AuthServer, anon: httpx.Client, pushed_repo: str, how: str
) -> None:
    name, password = srv.user("AcrPull", pushed_repo)
    creds = basic(name, password)
    token = token_for(anon, creds, f"repository:{pushed_repo}:pull", service=srv.host)
    refresh = fetch_token(anon, creds, service=srv.host, offline_token="true").json()[
        "refresh_token"
    ]
    assert_status(anon.get(f"/v2/{pushed_repo}/tags/list", headers=bearer(token)), 200)
    assert_status(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)), 200)

    if how == "disable":
        srv.access.users.set_enabled(name, False, "test")
    else:
        srv.access.users.delete(name, "test")
    refused(anon.get(f"/v2/{pushed_repo}/tags/list", headers=creds))
    assert_error(fetch_token(anon, creds, service=srv.host), 401, "UNAUTHORIZED")
    refused(anon.get(f"/v2/{pushed_repo}/tags/list", headers=bearer(token)))
    refused(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)))
    resp = anon.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": srv.host},
    )
    assert_error(resp, 401, "UNAUTHORIZED")


def test_recreated_user_does_not_inherit_old_tokens(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client, pushed_repo: str
) -> None:
    """A removed user's tokens die with it, even when a new user of the same name appears:
    the old refresh token must not log in as the newcomer, and an old access token must not
    keep the old user's grants."""
    name, password = srv.user("AcrPush", pushed_repo)
    creds = basic(name, password)
    old_token = token_for(anon, creds, f"repository:{pushed_repo}:pull,push", service=srv.host)
    resp = fetch_token(anon, creds, service=srv.host, offline_token="true")
    old_refresh = resp.json()["refresh_token"]
    srv.access.users.delete(name, "test")
    new_password = srv.access.users.create(name, "user", "test")
    srv.access.roles.assign(name, "AcrPull", pushed_repo, "test")
    refused(anon.get("/v2/", headers=basic(name, password)))
    assert_status(anon.get("/v2/", headers=basic(name, new_password)), 200)
    refused(anon.post(f"/v2/{pushed_repo}/blobs/uploads/", headers=basic(name, new_password)), 403)

    problems = []
    resp = anon.post(f"/v2/{pushed_repo}/blobs/uploads/", headers=bearer(old_token))
    if resp.status_code != 401:
        problems.append("the deleted user's access token still pushes" + describe(resp))
    resp = anon.get(f"/v2/{pushed_repo}/tags/list", headers=basic(REFRESH_USERNAME, old_refresh))
    if resp.status_code != 401:
        problems.append("the deleted user's refresh token logs in as the new user" + describe(resp))
    resp = anon.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh, "service": srv.host},
    )
    if resp.status_code != 401:
        problems.append("the deleted user's refresh token mints tokens" + describe(resp))
    assert not problems, "\n\n".join(problems)


# --- wildcards ---------------------------------------------------------------------------------


def test_wildcard_scope_map_does_not_match_sibling_prefix(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    prefix = f"wc{nonce()}"
    inside, nested, sibling, bare = (
        f"{prefix}/c",
        f"{prefix}/deep/er",
        f"{prefix}b/c",
        prefix,
    )
    for repo in (inside, nested, sibling, bare):
        push_image(owner, repo, "v1")

    name, password = srv.token([f"repositories/{prefix}/*/content/read"])
    creds = basic(name, password)
    assert_status(anon.get(f"/v2/{inside}/tags/list", headers=creds), 200)
    assert_status(anon.get(f"/v2/{nested}/tags/list", headers=creds), 200)
    refused(anon.get(f"/v2/{sibling}/tags/list", headers=creds), 403)
    refused(anon.get(f"/v2/{bare}/tags/list", headers=creds), 403)
    refused(anon.post(f"/v2/{inside}/blobs/uploads/", headers=creds), 403)

    token = token_for(
        anon,
        creds,
        f"repository:{inside}:pull",
        f"repository:{sibling}:pull",
        f"repository:{bare}:pull",
        service=srv.host,
    )
    got = granted(token)
    assert got.get(inside) == {"pull"}, got
    assert not got.get(sibling), got
    assert not got.get(bare), got

    # The same edge for a role assigned over `prefix/*`.
    user, user_password = srv.user("AcrPull", f"{prefix}/*")
    user_creds = basic(user, user_password)
    assert_status(anon.get(f"/v2/{inside}/tags/list", headers=user_creds), 200)
    refused(anon.get(f"/v2/{sibling}/tags/list", headers=user_creds), 403)
    catalog = anon.get("/v2/_catalog", params={"n": 10000}, headers=user_creds)
    assert_status(catalog, 200)
    assert sibling not in catalog.json()["repositories"]


# --- tampered refresh tokens ---------------------------------------------------------------------


def flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_tampered_refresh_token(srv: AuthServer, anon: httpx.Client) -> None:
    name, password = srv.user("AcrPull", "*")
    resp = fetch_token(anon, basic(name, password), service=srv.host, offline_token="true")
    refresh = resp.json()["refresh_token"]
    assert_status(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)), 200)
    header, payload, signature = refresh.split(".")
    tampered = {
        "payload": f"{header}.{flip(payload, len(payload) // 2)}.{signature}",
        "signature": f"{header}.{payload}.{flip(signature, len(signature) // 2)}",
        "header": f"{flip(header, len(header) // 2)}.{payload}.{signature}",
        "truncated": refresh[:-10],
        "subject swap": (
            f"{header}.{b64url_json({**unverified(refresh)[1], 'sub': 'user:owner'})}.{signature}"
        ),
    }
    for what, bad in tampered.items():
        resp = anon.get("/v2/", headers=basic(REFRESH_USERNAME, bad))
        assert resp.status_code == 401, f"{what}: accepted" + describe(resp)
        refused(resp)
        resp = anon.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": bad, "service": srv.host},
        )
        assert_error(resp, 401, "UNAUTHORIZED")
        resp = fetch_token(anon, basic(REFRESH_USERNAME, bad), "repository:x:pull")
        assert_error(resp, 401, "UNAUTHORIZED")


# --- malformed and oversized credentials ----------------------------------------------------------


def test_overlong_authorization_header(srv: AuthServer, anon: httpx.Client) -> None:
    long_basic = "Basic " + base64.b64encode(b"owner:" + b"p" * 9000).decode()
    long_bearer = "Bearer " + "a" * 9000
    for value in (long_basic, long_bearer):
        resp = anon.get("/v2/", headers={"Authorization": value})
        refused(resp)
        resp = anon.get(
            "/oauth2/token", params={"scope": "repository:x:pull"}, headers={"Authorization": value}
        )
        assert_error(resp, 401, "UNAUTHORIZED")


def test_overlong_username_and_password(srv: AuthServer, anon: httpx.Client) -> None:
    for username, password in (("u" * 300, "x"), ("owner", "p" * 2000)):
        refused(anon.get("/v2/", headers=basic(username, password)))
        resp = fetch_token(anon, basic(username, password), "repository:x:pull")
        assert_error(resp, 401, "UNAUTHORIZED")
        resp = anon.post(
            "/oauth2/token",
            data={"grant_type": "password", "username": username, "password": password},
        )
        assert_error(resp, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "value",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"owner:x").decode()[:-2],
        "Basic",
        "Bearer",
        "Bearer not.a.jwt",
        "Bearer a.b",
        "Digest username=owner",
        "owner:password",
    ],
)
def test_malformed_credentials(srv: AuthServer, anon: httpx.Client, value: str) -> None:
    resp = anon.get("/v2/", headers={"Authorization": value})
    refused(resp)
    resp = anon.get("/v2/_catalog", headers={"Authorization": value})
    refused(resp)
    resp = anon.get(
        "/oauth2/token", params={"scope": "repository:x:pull"}, headers={"Authorization": value}
    )
    assert_error(resp, 401, "UNAUTHORIZED")


# --- login rate limiting -----------------------------------------------------------------------


def test_repeated_failed_logins_are_throttled(
    srv: AuthServer, anon: httpx.Client, pushed_repo: str
) -> None:
    name, password = srv.user("AcrPull", pushed_repo)
    other, other_password = srv.user("AcrPull", pushed_repo)
    attempts = 0
    throttled: httpx.Response | None = None
    while attempts < 30:
        resp = anon.get("/v2/", headers=basic(name, f"wrong-{attempts}"))
        attempts += 1
        if resp.status_code == 429:
            throttled = resp
            break
        refused(resp)
    assert throttled is not None, f"no 429 after {attempts} failed logins"
    assert attempts <= 21, f"throttled only after {attempts} failures"
    assert_error(throttled, 429, "TOOMANYREQUESTS")
    retry_after = throttled.headers.get("retry-after")
    assert retry_after is not None, describe(throttled)
    assert retry_after.isdigit(), describe(throttled)
    assert 1 <= int(retry_after) <= 3600, describe(throttled)

    # While throttled, even the right password gets nowhere: on /v2 and the token service.
    resp = anon.get(f"/v2/{pushed_repo}/tags/list", headers=basic(name, password))
    assert_error(resp, 429, "TOOMANYREQUESTS")
    assert resp.headers.get("retry-after"), describe(resp)
    resp = fetch_token(anon, basic(name, password), f"repository:{pushed_repo}:pull")
    assert_error(resp, 429, "TOOMANYREQUESTS")
    assert resp.headers.get("retry-after"), describe(resp)
    resp = anon.post(
        "/oauth2/token",
        data={"grant_type": "password", "username": name, "password": password},
    )
    assert_error(resp, 429, "TOOMANYREQUESTS")

    # Forwarding headers do not reset the count (the client address is the socket's).
    for spoof in ({"X-Forwarded-For": "10.9.8.7"}, {"X-Real-IP": "10.9.8.7"}):
        resp = anon.get("/v2/", headers={**basic(name, password), **spoof})
        assert_error(resp, 429, "TOOMANYREQUESTS")

    # Another account is not affected.
    assert_status(anon.get("/v2/", headers=basic(other, other_password)), 200)


def test_failed_logins_to_unknown_users_are_throttled(anon: httpx.Client) -> None:
    ghost = f"ghost{nonce()}"
    statuses = [anon.get("/v2/", headers=basic(ghost, "guess")).status_code for _ in range(25)]
    assert 429 in statuses, statuses
    assert set(statuses) <= {401, 429}, statuses


# --- audit ---------------------------------------------------------------------------------------


def test_refusals_are_audited(
    srv: AuthServer, anon: httpx.Client, owner: httpx.Client, pushed_repo: str
) -> None:
    n = nonce()
    denied_repo = f"audit{n}/private"
    digest = upload_blob(owner, denied_repo, random_bytes(32))
    name, password = srv.user(prefix="aud")
    ghost = f"ghost{n}"
    since = time.time() - 1

    refused(anon.get(f"/v2/{denied_repo}/tags/list"))  # anonymous
    refused(anon.get(f"/v2/{denied_repo}/blobs/{digest}", headers=basic(name, password)), 403)
    refused(anon.get(f"/v2/{denied_repo}/manifests/v1", headers=basic(ghost, "guess")))
    forged = jwt.encode(
        {"sub": "user:owner", "access": []},
        ec.generate_private_key(ec.SECP256R1()),
        "ES256",
        headers={"kid": "forged"},
    )
    refused(anon.delete(f"/v2/{denied_repo}/manifests/v1", headers=bearer(forged)))
    assert_error(fetch_token(anon, basic(ghost, "guess"), service=srv.host), 401)

    def found(entries: list[dict[str, Any]]) -> list[str]:
        denials = [e for e in entries if e.get("outcome") == "denied"]
        wanted = {
            "anonymous GET tags": lambda e: e.get("path") == f"/v2/{denied_repo}/tags/list",
            "403 of a known user": lambda e: (
                e.get("path") == f"/v2/{denied_repo}/blobs/{digest}"
                and e.get("actor") == f"user:{name}"
            ),
            "unknown user on /v2": lambda e: e.get("path") == f"/v2/{denied_repo}/manifests/v1",
            "forged bearer": lambda e: (
                e.get("path") == f"/v2/{denied_repo}/manifests/v1"
                and e.get("method", "DELETE") == "DELETE"
            ),
            "failed login": lambda e: e.get("event") == "login" and e.get("actor") == ghost,
            "token service refusal": lambda e: e.get("event") == "token.issue",
        }
        return [what for what, match in wanted.items() if not any(match(e) for e in denials)]

    deadline = time.monotonic() + 5
    entries = [e for e in srv.audit() if e.get("ts", 0) >= since]
    while found(entries) and time.monotonic() < deadline:
        time.sleep(0.2)
        entries = [e for e in srv.audit() if e.get("ts", 0) >= since]
    assert not found(entries), f"missing from the audit log: {found(entries)}\n" + "\n".join(
        json.dumps(e) for e in entries
    )
    paths = [e.get("path") for e in entries if e.get("outcome") == "denied"]
    # The forged bearer's DELETE is there too, and no secret is written out.
    assert sum(1 for p in paths if p == f"/v2/{denied_repo}/manifests/v1") >= 2, entries
    text = srv.audit_path.read_text()
    assert password not in text
    assert srv.owner_password not in text
    assert forged not in text


# --- cross-repository content --------------------------------------------------------------------


def test_upload_session_of_another_repository_cannot_be_hijacked(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    victim, mine = f"hijack/{nonce()}", f"hijack/{nonce()}"
    started = owner.post(f"/v2/{victim}/blobs/uploads/")
    assert_status(started, 202)
    upload_id = started.headers["location"].split("?")[0].rstrip("/").rsplit("/", 1)[1]
    name, password = srv.user("AcrPush", mine)
    creds = basic(name, password)
    evil = b"attacker data"
    evil_digest = "sha256:" + hashlib.sha256(evil).hexdigest()
    for method, params, body in (
        ("GET", {}, b""),
        ("PATCH", {}, evil),
        ("PUT", {"digest": evil_digest}, evil),
        ("DELETE", {}, b""),
    ):
        resp = anon.request(
            method,
            f"/v2/{mine}/blobs/uploads/{upload_id}",
            params=params,
            content=body or None,
            headers={**creds, "Content-Type": "application/octet-stream"},
        )
        assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_status(owner.head(f"/v2/{victim}/blobs/{evil_digest}"), 404)
    assert_status(owner.head(f"/v2/{mine}/blobs/{evil_digest}"), 404)
    # The victim's session is untouched and still completes.
    data = random_bytes(100)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = owner.put(
        started.headers["location"],
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_status(done, 201)


def test_blobs_of_unreadable_repositories_stay_out_of_reach(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client
) -> None:
    """Content-addressed storage is shared, but a digest known from elsewhere must not open
    another repository's blob: not by GET/HEAD, nor by naming it in a manifest."""
    secret_repo, mine = f"xrepo/{nonce()}", f"xrepo/{nonce()}"
    secret = random_bytes(128)
    digest = upload_blob(owner, secret_repo, secret)
    name, password = srv.user("AcrPush", mine)
    creds = basic(name, password)
    with httpx.Client(base_url=srv.url, timeout=60, headers=creds) as mine_http:
        assert_status(mine_http.head(f"/v2/{mine}/blobs/{digest}"), 404)
        assert_error(mine_http.get(f"/v2/{mine}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        config_digest = upload_blob(mine_http, mine, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": digest,
                        "size": len(secret),
                    }
                ],
            }
        ).encode()
        resp = mine_http.put(
            f"/v2/{mine}/manifests/steal",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")
        got = mine_http.get(f"/v2/{mine}/blobs/{digest}")
        assert got.status_code == 404, "another repository's blob is served" + describe(got)
        assert secret not in got.content


def test_repository_delete_needs_the_delete_right(
    srv: AuthServer, owner: httpx.Client, anon: httpx.Client, pushed_repo: str
) -> None:
    name, password = srv.user("AcrPush", pushed_repo)
    refused(anon.delete(f"/acr/v1/{pushed_repo}", headers=basic(name, password)), 403)
    token = token_for(anon, srv.owner(), f"repository:{pushed_repo}:pull,push", service=srv.host)
    resp = anon.delete(f"/acr/v1/{pushed_repo}", headers=bearer(token))
    assert_error(resp, 401, "UNAUTHORIZED")
    assert challenge_of(resp).get("scope") == f"repository:{pushed_repo}:delete", describe(resp)
    assert_status(owner.get(f"/v2/{pushed_repo}/manifests/v1"), 200)


def test_expired_token_password(srv: AuthServer, anon: httpx.Client, pushed_repo: str) -> None:
    name, password1 = srv.token([f"repositories/{pushed_repo}/content/read"])
    assert_status(anon.get(f"/v2/{pushed_repo}/tags/list", headers=basic(name, password1)), 200)
    expired = srv.access.tokens.generate_password(name, 1, time.time() - 1, "test")
    password2 = srv.access.tokens.generate_password(name, 2, time.time() + 3600, "test")
    refused(anon.get(f"/v2/{pushed_repo}/tags/list", headers=basic(name, expired.password)))
    refused(anon.get(f"/v2/{pushed_repo}/tags/list", headers=basic(name, password1)))
    assert_error(fetch_token(anon, basic(name, expired.password)), 401, "UNAUTHORIZED")
    ok = anon.get(f"/v2/{pushed_repo}/tags/list", headers=basic(name, password2.password))
    assert_status(ok, 200)
