"""`/oauth2/exchange`: an identity token of a trusted OIDC issuer becomes a Dockyard refresh
token, which then works as a docker password with the null-GUID username."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dockyard.access.audit import AuditLog
from dockyard.access.service import AccessService
from dockyard.storage.db.database import Database
from tests.conftest import ServerProcess

NULL_GUID = "00000000-0000-0000-0000-000000000000"
AUDIENCE = "dockyard-registry"


class Issuer:
    """A real HTTP OIDC issuer on loopback: discovery document and JWKS."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "issuer-key-1"
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys"}
                elif self.path == "/keys":
                    body = {"keys": [jwk]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(
        self, subject: str, audience: str = AUDIENCE, ttl: int = 300, key: object = None
    ) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "exp": now + ttl}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    yield running
    running.httpd.shutdown()


def test_exchange_identity_token_for_refresh_token(
    server_factory: type[ServerProcess], issuer: Issuer
) -> None:
    server = server_factory(
        env={
            "DOCKYARD_AUTH_ENABLED": "true",
            "DOCKYARD_OIDC_ISSUER": issuer.url,
            "DOCKYARD_OIDC_AUDIENCE": AUDIENCE,
        }
    )
    access = AccessService(
        Database(server.database_url), AuditLog(server.data_dir / "audit.log"), "admin"
    )
    access.create_user("alice", "user", actor="test")
    access.assign_role("alice", "AcrPull", "*", actor="test")
    service = server.host

    def exchange(token: str) -> httpx.Response:
        return httpx.post(
            f"{server.url}/oauth2/exchange",
            data={"grant_type": "access_token", "service": service, "access_token": token},
        )

    answer = exchange(issuer.token("alice"))
    assert answer.status_code == 200, answer.text
    refresh = answer.json()["refresh_token"]
    basic = base64.b64encode(f"{NULL_GUID}:{refresh}".encode()).decode()
    ping = httpx.get(f"{server.url}/v2/", headers={"Authorization": f"Basic {basic}"})
    assert ping.status_code == 200
    token = httpx.get(
        f"{server.url}/oauth2/token",
        params={"service": service, "scope": "repository:some/repo:pull,push"},
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
    audit = (server.data_dir / "audit.log").read_text()
    assert '"event":"token.exchange","actor":"user:alice","outcome":"ok"' in audit


def test_exchange_without_configured_issuer_is_refused(server_factory: type[ServerProcess]) -> None:
    server = server_factory(env={"DOCKYARD_AUTH_ENABLED": "true"})
    resp = httpx.post(
        f"{server.url}/oauth2/exchange",
        data={"grant_type": "access_token", "service": server.host, "access_token": "x"},
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "UNSUPPORTED"
