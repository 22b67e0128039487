"""`/oauth2/exchange`: an identity token of a trusted OIDC issuer becomes a Dockyard refresh
token, which then works as a docker password with the null-GUID username. In process, on
registries of their own with the issuer's settings (see conftest.py); the issuer is a real
HTTP server (tests/oidc_issuer.py) that the application asks for its keys."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.oidc_issuer import AUDIENCE, Issuer
from tests.protocol.conftest import BASE_URL, InProcessRegistry, RegistryFactory, sync_client

NULL_GUID = "00000000-0000-0000-0000-000000000000"
SERVICE = urlsplit(BASE_URL).netloc  # the registry's host, as clients name it
SDK_AUDIENCE = "https://containerregistry.azure.net"
ARM_AUDIENCES = ("https://management.core.windows.net/", "https://management.azure.com/")


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    yield running
    running.stop()


def audit_text(registry: InProcessRegistry, expected: str) -> str:
    """The audit log once it holds `expected` (or as it is after 5 s)."""
    audit = registry.services.settings.storage.data_dir / "audit.log"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (audit.exists() and expected in audit.read_text()):
        time.sleep(0.1)
    return audit.read_text() if audit.exists() else ""


def test_exchange_identity_token_for_refresh_token(
    registry_factory: RegistryFactory, issuer: Issuer
) -> None:
    registry = registry_factory(auth=True, oidc={"issuer": issuer.url, "audience": AUDIENCE})
    access = registry.services.auth.access
    access.users.create("alice", "user", actor="test")
    access.roles.assign("alice", "AcrPull", "*", actor="test")
    http = sync_client(registry)

    def exchange(token: str) -> httpx.Response:
        return http.post(
            "/oauth2/exchange",
            data={"grant_type": "access_token", "service": SERVICE, "access_token": token},
        )

    answer = exchange(issuer.token("alice"))
    assert answer.status_code == 200, answer.text
    refresh = answer.json()["refresh_token"]
    basic = base64.b64encode(f"{NULL_GUID}:{refresh}".encode()).decode()
    ping = http.get("/v2/", headers={"Authorization": f"Basic {basic}"})
    assert ping.status_code == 200
    token = http.get(
        "/oauth2/token",
        params={"service": SERVICE, "scope": "repository:some/repo:pull,push"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200
    granted = jwt.decode(token.json()["token"], options={"verify_signature": False})["access"]
    assert granted == [{"type": "repository", "name": "some/repo", "actions": ["pull"]}]

    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refusals = {
        "foreign key": exchange(issuer.token("alice", key=foreign)),
        "other audience": exchange(issuer.token("alice", audience="someone-else")),
        "expired": exchange(issuer.token("alice", ttl=-60)),
        "unknown user": exchange(issuer.token("mallory")),
        "garbage": exchange("not-a-jwt"),
    }
    for case, resp in refusals.items():
        assert resp.status_code == 401, f"{case}: {resp.status_code} {resp.text}"
        assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED", case
    expected = '"event":"token.exchange","actor":"user:alice","outcome":"ok"'
    assert expected in audit_text(registry, expected)
    http.close()


def test_exchange_without_configured_issuer_is_refused(registry_factory: RegistryFactory) -> None:
    http = sync_client(registry_factory(auth=True))
    resp = http.post(
        "/oauth2/exchange",
        data={"grant_type": "access_token", "service": SERVICE, "access_token": "x"},
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "UNSUPPORTED"
    http.close()


def test_entra_style_issuer_audiences_and_upn_names(registry_factory: RegistryFactory) -> None:
    """Issue #12, point 4: an Entra v1 issuer ends in `/` and its tokens' `iss` too; the SDK
    asks for tokens of the registry audience, the Azure CLI for ARM's; users are named by
    their UPN (an e-mail address)."""
    entra = Issuer(tenant="72f988bf-86f1-41af-91ab-2d7cd011db47")
    try:
        registry = registry_factory(auth=True, oidc={"issuer": entra.url, "username_claim": "upn"})
        access = registry.services.auth.access
        upn = "alice.o-neil+acr@contoso.example.com"
        access.users.create(upn, "user", actor="test")
        access.roles.assign(upn, "AcrPush", "*", actor="test")
        assert entra.url.endswith("/")
        http = sync_client(registry)

        def exchange(token: str) -> httpx.Response:
            return http.post(
                "/oauth2/exchange",
                data={"grant_type": "access_token", "service": SERVICE, "access_token": token},
            )

        # Entra writes ARM's audience with or without its trailing slash.
        for audience in (SDK_AUDIENCE, *ARM_AUDIENCES, "https://management.azure.com"):
            answer = exchange(entra.token("oid-1", audience=audience, upn=upn))
            assert answer.status_code == 200, f"{audience}: {answer.text}"
            refresh = answer.json()["refresh_token"]
            assert jwt.decode(refresh, options={"verify_signature": False})["sub"] == f"user:{upn}"
            basic = base64.b64encode(f"{NULL_GUID}:{refresh}".encode()).decode()
            ping = http.get("/v2/", headers={"Authorization": f"Basic {basic}"})
            assert ping.status_code == 200

        without_slash = entra.url.rstrip("/")
        refusals = {
            "iss without the trailing slash": exchange(
                entra.token("oid-1", audience=SDK_AUDIENCE, upn=upn, iss=without_slash)
            ),
            "other audience": exchange(entra.token("oid-1", audience="api://other", upn=upn)),
            "no upn claim": exchange(entra.token(upn, audience=SDK_AUDIENCE)),
            "unknown user": exchange(
                entra.token("oid-2", audience=SDK_AUDIENCE, upn="bob@contoso.example.com")
            ),
        }
        for case, resp in refusals.items():
            assert resp.status_code == 401, f"{case}: {resp.status_code} {resp.text}"
            assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED", case
        http.close()
    finally:
        entra.stop()


def test_configured_audience_list(registry_factory: RegistryFactory, issuer: Issuer) -> None:
    """`oidc_audiences` replaces the default list; the old `oidc_audience` joins it."""
    registry = registry_factory(
        auth=True,
        oidc={
            "issuer": issuer.url,
            "audiences": ["api://dockyard", "api://dockyard-ci"],
            "audience": AUDIENCE,
        },
    )
    registry.services.auth.access.users.create("carol", "user", actor="test")
    http = sync_client(registry)

    def status(audience: str) -> int:
        return http.post(
            "/oauth2/exchange",
            data={
                "grant_type": "access_token",
                "service": SERVICE,
                "access_token": issuer.token("carol", audience=audience),
            },
        ).status_code

    assert [status(a) for a in ("api://dockyard", "api://dockyard-ci", AUDIENCE)] == [200] * 3
    assert status(SDK_AUDIENCE) == 401, "the defaults are replaced by a configured list"
    http.close()
