"""Helpers for the access-control suites: an auth-enabled server whose users, roles, scope
maps and tokens the test sets up through the service layer on the server's own database,
plus small helpers for Basic credentials, the token service, JWTs and challenges."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from dockyard.access.audit import AuditLog
from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.storage.db.database import Database
from tests.conftest import ServerProcess
from tests.integration.helpers import describe
from tests.tls import ServerCertificate

AUTH_ENV = {"DOCKYARD_AUTH_ENABLED": "true"}
ACTOR = "test-suite"
REFRESH_USERNAME = "00000000-0000-0000-0000-000000000000"


def nonce() -> str:
    return uuid.uuid4().hex[:10]


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT, without checking its signature."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims


_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("Bearer", {realm:..., service:...})."""
    scheme, _, rest = value.strip().partition(" ")
    return scheme, dict(_PARAM_RE.findall(rest))


def challenge_of(resp: httpx.Response) -> dict[str, str]:
    """The parameters of a 401's Bearer challenge (fails when there is none)."""
    assert resp.status_code == 401, "expected 401" + describe(resp)
    value = resp.headers.get("www-authenticate")
    assert value, "401 without WWW-Authenticate" + describe(resp)
    scheme, params = parse_challenge(value)
    assert scheme == "Bearer", f"challenge scheme {scheme!r}" + describe(resp)
    return params


@dataclass
class AuthServer:
    """An auth-enabled `dockyard serve` plus the access service on the same database."""

    proc: ServerProcess
    owner_password: str
    access: AccessService
    signer: TokenSigner
    db: Database
    created: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def host(self) -> str:
        return self.proc.host

    @property
    def port(self) -> int:
        return self.proc.port

    @property
    def realm(self) -> str:
        return f"http://{self.proc.host}/oauth2/token"

    @property
    def audit_path(self) -> Path:
        return self.proc.data_dir / "audit.log"

    def owner(self) -> dict[str, str]:
        return basic("owner", self.owner_password)

    def user(self, role: str | None = None, scope: str = "*", prefix: str = "u") -> tuple[str, str]:
        """A new user, with `role` over `scope` when given; returns (name, password)."""
        name = f"{prefix}{nonce()}"
        password = self.access.users.create(name, "user", ACTOR)
        if role is not None:
            self.access.roles.assign(name, role, scope, ACTOR)
        return name, password

    def token(self, actions: Sequence[str], prefix: str = "t") -> tuple[str, str]:
        """A repository-scoped token over a new scope map of `actions`; (name, password1)."""
        name = f"{prefix}{nonce()}"
        self.access.scope_maps.create(f"map-{name}", list(actions), "test", ACTOR)
        passwords = self.access.tokens.create(name, f"map-{name}", True, ACTOR)
        return name, passwords[0].password

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line]

    def close(self) -> None:
        self.proc.stop()
        self.db.dispose()


def start_auth_server(
    data_dir: Path,
    workers: int = 1,
    tls: ServerCertificate | None = None,
    ca_file: Path | None = None,
    **env: str,
) -> AuthServer:
    """With `tls` (signed by `ca_file`), the server speaks HTTPS."""
    proc = ServerProcess(
        data_dir, workers=workers, env={**AUTH_ENV, **env}, tls=tls, ca_file=ca_file
    )
    proc.start()
    return attach(proc)


def attach(proc: ServerProcess) -> AuthServer:
    """The access service over an already started auth-enabled server's database."""
    secret = proc.data_dir / "initial-owner-password"
    deadline = time.monotonic() + 10
    while not secret.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert secret.exists(), f"no {secret} after first start:\n{proc.log()}"
    db = Database(proc.database_url)
    access = AccessService(db, AuditLog(proc.data_dir / "audit.log"), "admin")
    return AuthServer(proc, secret.read_text().strip(), access, TokenSigner(db), db)


@contextmanager
def auth_server(
    data_dir: Path,
    workers: int = 1,
    tls: ServerCertificate | None = None,
    ca_file: Path | None = None,
    **env: str,
) -> Iterator[AuthServer]:
    srv = start_auth_server(data_dir, workers, tls, ca_file, **env)
    try:
        yield srv
    finally:
        srv.close()


def fetch_token(
    http: httpx.Client,
    creds: dict[str, str] | None,
    *scopes: str,
    service: str | None = None,
    **params: str,
) -> httpx.Response:
    """GET /oauth2/token (the Docker token spec flavour)."""
    query: list[tuple[str, str]] = [("scope", s) for s in scopes]
    if service is not None:
        query.append(("service", service))
    query += list(params.items())
    return http.get("/oauth2/token", params=query, headers=creds or {})


def token_for(http: httpx.Client, creds: dict[str, str], *scopes: str, service: str) -> str:
    resp = fetch_token(http, creds, *scopes, service=service)
    assert resp.status_code == 200, "token request refused" + describe(resp)
    token = resp.json().get("token")
    assert isinstance(token, str), "no token" + describe(resp)
    assert token, "empty token" + describe(resp)
    return token


def granted(token: str) -> dict[str, set[str]]:
    """name -> granted actions, from a token's `access` claim (repository entries)."""
    _, claims = unverified(token)
    out: dict[str, set[str]] = {}
    for entry in claims.get("access", []):
        if entry.get("type") == "repository":
            out.setdefault(entry["name"], set()).update(entry.get("actions", []))
    return out
