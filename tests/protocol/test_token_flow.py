"""The token service and the challenge, in process (see conftest.py)."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from tests.protocol.conftest import BASE_URL, InProcessRegistry

pytestmark = pytest.mark.anyio


async def test_challenge_then_token_then_pull(
    auth_http: httpx.AsyncClient, auth_registry: InProcessRegistry
) -> None:
    repo = f"protocol/{uuid.uuid4().hex[:10]}"
    refused = await auth_http.get(f"/v2/{repo}/tags/list")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{BASE_URL}/oauth2/token"')
    assert f'scope="repository:{repo}:pull"' in challenge

    token = await auth_http.get(
        "/oauth2/token",
        params={"service": "registry.test", "scope": f"repository:{repo}:pull,push"},
        headers=auth_registry.owner_basic(),
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    listed = await auth_http.get(f"/v2/{repo}/tags/list", headers=bearer)
    # Allowed now: the repository does not exist yet.
    assert listed.status_code == 404
    assert listed.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    # The token is for this repository only.
    other = await auth_http.get("/v2/protocol/other/tags/list", headers=bearer)
    assert other.status_code == 401


async def test_a_wrong_password_gets_no_token(auth_http: httpx.AsyncClient) -> None:
    forged = base64.b64encode(b"owner:not-the-password").decode()
    resp = await auth_http.get(
        "/oauth2/token",
        params={"service": "registry.test", "scope": "repository:x:pull"},
        headers={"Authorization": f"Basic {forged}"},
    )
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_a_forged_bearer_token_is_refused(auth_http: httpx.AsyncClient) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(
        b'{"sub":"owner","access":[{"type":"repository","name":"x","actions":["pull"]}]}'
    )
    forged = f"{header}.{claims.rstrip(b'=').decode()}."
    resp = await auth_http.get("/v2/x/tags/list", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401


async def test_the_management_api_answers_its_owner(
    auth_http: httpx.AsyncClient, auth_registry: InProcessRegistry
) -> None:
    assert (await auth_http.get("/api/v1/users")).status_code == 401
    listed = await auth_http.get("/api/v1/users", headers=auth_registry.owner_basic())
    assert listed.status_code == 200, listed.text
    assert "owner" in listed.text
