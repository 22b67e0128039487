"""The management API under /api/v1, in process (see conftest.py) on an auth-enabled registry
of each test's own: each endpoint as a client would call it, and the effect each change has on
the registry (pull, push, login), the refusals (401, 403 DENIED) and the audit log; and without
authentication, where everyone manages. Every test here started a server of its own before."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tests.integration.helpers import assert_error, assert_status, describe, push_image
from tests.protocol.conftest import BASE_URL, InProcessRegistry, RegistryFactory, sync_client

NULL_GUID = "00000000-0000-0000-0000-000000000000"
MANIFEST_ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


@dataclass(frozen=True)
class Where:
    """What the process tests read of their server: its host and its data directory."""

    host: str
    data_dir: Path


@dataclass
class Registry:
    """An auth-enabled in-process registry and its owner, with clients as the process tests
    made them (entered only through `closing`: entering a TestClient runs the lifespan)."""

    made: InProcessRegistry
    owner_password: str
    anon: httpx.Client
    server: Where

    def client(
        self, username: str | None = None, password: str | None = None
    ) -> closing[httpx.Client]:
        http = sync_client(self.made)
        if username:
            http.auth = httpx.BasicAuth(username, password or "")
        return closing(http)

    def owner(self) -> closing[httpx.Client]:
        return self.client("owner", self.owner_password)

    def audit(self) -> list[dict[str, Any]]:
        with self.owner() as http:
            resp = http.get("/api/v1/audit", params={"limit": 10000})
        assert_status(resp, 200)
        entries: list[dict[str, Any]] = resp.json()
        return entries


@pytest.fixture
def registry(registry_factory: RegistryFactory) -> Iterator[Registry]:
    made = registry_factory(auth=True)
    assert made.owner_password is not None
    anon = sync_client(made)
    where = Where(urlsplit(BASE_URL).netloc, made.services.settings.storage.data_dir)
    yield Registry(made, made.owner_password, anon, where)
    anon.close()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def owner(registry: Registry) -> Iterator[httpx.Client]:
    with registry.owner() as http:
        yield http


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert_status(resp, status)
    return None if status == 204 else resp.json()


def create_user(owner: httpx.Client, name: str, role: str | None = None, scope: str = "*") -> str:
    password = ok(owner.post("/api/v1/users", json={"name": name}), 201)["password"]
    if role:
        ok(owner.post("/api/v1/roles", json={"principal": name, "role": role, "scope": scope}), 201)
    return str(password)


def get_manifest(http: httpx.Client, repo: str, tag: str = "v1") -> httpx.Response:
    return http.get(f"/v2/{repo}/manifests/{tag}", headers=MANIFEST_ACCEPT)


def can_push(http: httpx.Client, repo: str) -> httpx.Response:
    """Starting an upload needs push (and pull) on the repository."""
    return http.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})


def basic_header(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


# --- the document and the gate -----------------------------------------------------------------


def test_openapi_document_describes_the_api(registry: Registry) -> None:
    resp = registry.anon.get("/api/v1/openapi.json")
    doc = ok(resp)
    assert doc["servers"][0]["url"] == "/api/v1"
    paths = doc["paths"]
    for path, method in [
        ("/settings/anonymous-pull", "put"),
        ("/admin", "get"),
        ("/admin/enable", "post"),
        ("/admin/credentials/{slot}/regenerate", "post"),
        ("/users", "post"),
        ("/users/{name}/password", "post"),
        ("/users/{name}/disable", "post"),
        ("/roles", "delete"),
        ("/scope-maps/{name}", "patch"),
        ("/tokens", "post"),
        ("/tokens/{name}/credentials", "post"),
        ("/audit", "get"),
        ("/keys/rotate", "post"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing from OpenAPI"
    schemas = doc["components"]["schemas"]
    assert "scopeMap" in schemas["TokenCreate"]["properties"]
    assert {"basic", "bearer"} <= set(doc["components"]["securitySchemes"])
    assert "HTTPValidationError" not in schemas
    create = paths["/users"]["post"]["responses"]
    assert "422" not in create
    assert "400" in create
    assert "403" in create
    docs = registry.anon.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text


def test_credentials_are_required(registry: Registry) -> None:
    with registry.client() as anon:
        resp = anon.get("/api/v1/users")
        assert_error(resp, 401, "UNAUTHORIZED")
        assert resp.headers["www-authenticate"].startswith("Basic")
        assert_error(anon.post("/api/v1/users", json={"name": "x"}), 401, "UNAUTHORIZED")
        assert_error(
            anon.get("/api/v1/users", headers={"Authorization": "Bearer not-a-jwt"}),
            401,
            "UNAUTHORIZED",
        )
        assert_error(
            anon.get("/api/v1/users", headers={"Authorization": "Digest x"}), 401, "UNAUTHORIZED"
        )
    with registry.client("owner", "wrong-password") as wrong:
        assert_error(wrong.get("/api/v1/users"), 401, "UNAUTHORIZED")


def test_errors_use_the_envelope(owner: httpx.Client) -> None:
    assert_error(owner.get("/api/v1/no-such-thing"), 404)
    assert_error(owner.delete("/api/v1/settings/anonymous-pull"), 405)
    errors = assert_error(owner.post("/api/v1/users", json={"nom": "x"}), 400, "UNSUPPORTED")
    assert "name" in errors[0]["message"]
    assert_error(
        owner.post(
            "/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        400,
        "UNSUPPORTED",
    )
    assert_error(owner.post("/api/v1/users", json={"name": "bad name!"}), 400, "UNSUPPORTED")
    assert_error(owner.delete("/api/v1/users/nobody"), 404, "NOT_FOUND")


def test_refresh_and_access_tokens_authenticate(registry: Registry) -> None:
    service = registry.server.host
    answer = registry.anon.post(
        "/oauth2/token",
        data={
            "grant_type": "password",
            "service": service,
            "username": "owner",
            "password": registry.owner_password,
            "scope": "repository:some/repo:pull",
        },
    )
    assert answer.status_code == 200, describe(answer)
    refresh, access = answer.json()["refresh_token"], answer.json()["access_token"]
    with registry.client(NULL_GUID, refresh) as by_refresh:
        ok(by_refresh.get("/api/v1/users"))
        ok(by_refresh.put("/api/v1/settings/anonymous-pull", json={"enabled": False}))
    # A registry access token is not for the management API; one for its scope is.
    headers = {"Authorization": f"Bearer {access}"}
    assert_error(registry.anon.get("/api/v1/tokens", headers=headers), 401, "UNAUTHORIZED")
    answer = registry.anon.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "service": service,
            "refresh_token": refresh,
            "scope": "registry:management:*",
        },
    )
    assert answer.status_code == 200, describe(answer)
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    ok(registry.anon.get("/api/v1/tokens", headers=headers))
    with registry.client(NULL_GUID, refresh + "x") as forged:
        assert_error(forged.get("/api/v1/users"), 401, "UNAUTHORIZED")


# --- who may manage ------------------------------------------------------------------------------


def test_reader_may_look_but_not_change(registry: Registry, owner: httpx.Client) -> None:
    reader = unique("reader")
    puller = unique("puller")
    reader_password = create_user(owner, reader, "Reader")
    puller_password = create_user(owner, puller, "AcrPull")
    with registry.client(reader, reader_password) as http:
        assert reader in {u["name"] for u in ok(http.get("/api/v1/users"))}
        ok(http.get("/api/v1/tokens"))
        ok(http.get("/api/v1/audit"))
        assert_error(http.post("/api/v1/users", json={"name": unique("u")}), 403, "DENIED")
        assert_error(http.post("/api/v1/keys/rotate"), 403, "DENIED")
        assert_error(
            http.post("/api/v1/roles", json={"principal": reader, "role": "Owner"}), 403, "DENIED"
        )
    with registry.client(puller, puller_password) as http:
        assert_error(http.get("/api/v1/users"), 403, "DENIED")
    denied = [e for e in registry.audit() if e["event"] == "manage" and e["outcome"] == "denied"]
    assert {e["actor"] for e in denied} >= {f"user:{reader}", f"user:{puller}"}


# --- users ---------------------------------------------------------------------------------------


def test_user_lifecycle(registry: Registry, owner: httpx.Client) -> None:
    name = unique("alice")
    created = ok(owner.post("/api/v1/users", json={"name": name}), 201)
    assert created["name"] == name
    assert created["kind"] == "user"
    assert len(created["password"]) > 20
    first = created["password"]
    assert_error(owner.post("/api/v1/users", json={"name": name}), 409, "CONFLICT")
    listed = {u["name"]: u for u in ok(owner.get("/api/v1/users"))}
    assert listed[name]["enabled"] is True
    assert listed["owner"]["kind"] == "user"
    assert ok(owner.get(f"/api/v1/users/{name}"))["name"] == name
    sp = unique("robot")
    assert (
        ok(owner.post("/api/v1/users", json={"name": sp, "kind": "service-principal"}), 201)["kind"]
        == "service-principal"
    )

    def login(password: str) -> int:
        return registry.anon.get("/v2/", headers=basic_header(name, password)).status_code

    assert login(first) == 200
    second = ok(owner.post(f"/api/v1/users/{name}/password"))["password"]
    assert second != first
    assert login(first) == 401
    assert login(second) == 200

    assert ok(owner.post(f"/api/v1/users/{name}/disable"))["enabled"] is False
    assert login(second) == 401
    assert ok(owner.post(f"/api/v1/users/{name}/enable"))["enabled"] is True
    assert login(second) == 200

    ok(owner.delete(f"/api/v1/users/{name}"), 204)
    assert login(second) == 401
    assert_error(owner.delete(f"/api/v1/users/{name}"), 404, "NOT_FOUND")
    assert_error(owner.post(f"/api/v1/users/{name}/password"), 404)
    assert name not in {u["name"] for u in ok(owner.get("/api/v1/users"))}


# --- roles ---------------------------------------------------------------------------------------


def test_roles_grant_and_revoke_repository_rights(registry: Registry, owner: httpx.Client) -> None:
    team = unique("team")
    other = unique("other")
    push_image(owner, f"{team}/app", "v1")
    push_image(owner, f"{other}/app", "v1")
    name = unique("dev")
    password = create_user(owner, name)
    assignment = {"principal": name, "role": "AcrPush", "scope": f"{team}/*"}
    assert ok(owner.post("/api/v1/roles", json=assignment), 201) == assignment
    ok(owner.post("/api/v1/roles", json={"principal": name, "role": "AcrPull", "scope": "*"}), 201)
    mine = ok(owner.get("/api/v1/roles", params={"principal": name}))
    assert sorted((r["role"], r["scope"]) for r in mine) == [
        ("AcrPull", "*"),
        ("AcrPush", f"{team}/*"),
    ]
    everyone = ok(owner.get("/api/v1/roles"))
    assert {"principal": "owner", "role": "Owner", "scope": "*"} in everyone

    assert_error(
        owner.post("/api/v1/roles", json={"principal": name, "role": "Janitor"}), 400, "UNSUPPORTED"
    )
    assert_error(
        owner.post("/api/v1/roles", json={"principal": name, "role": "AcrPull", "scope": "a*b"}),
        400,
    )
    assert_error(
        owner.post("/api/v1/roles", json={"principal": unique("ghost"), "role": "AcrPull"}), 404
    )

    with registry.client(name, password) as dev:
        assert_status(can_push(dev, f"{team}/app"), 202)
        assert_status(get_manifest(dev, f"{other}/app"), 200)
        assert_error(can_push(dev, f"{other}/app"), 403, "DENIED")
        # The role is removed by query ...
        ok(owner.delete("/api/v1/roles", params=assignment), 204)
        assert_error(can_push(dev, f"{team}/app"), 403, "DENIED")
        # ... or by body; then the user has nothing.
        ok(
            owner.request(
                "DELETE",
                "/api/v1/roles",
                json={"principal": name, "role": "AcrPull", "scope": "*"},
            ),
            204,
        )
        assert_error(get_manifest(dev, f"{other}/app"), 403, "DENIED")
    assert_error(owner.delete("/api/v1/roles", params=assignment), 404, "NOT_FOUND")
    assert_error(owner.delete("/api/v1/roles"), 400)


# --- scope maps and tokens ----------------------------------------------------------------------


def test_token_bound_to_scope_map_gets_exactly_its_rights(
    registry: Registry, owner: httpx.Client
) -> None:
    prefix = unique("a")
    push_image(owner, f"{prefix}/x", "v1")
    push_image(owner, f"{prefix}b/c", "v1")  # `a/*` must not match `ab/c`
    scope_map = unique("read-")
    created = ok(
        owner.post(
            "/api/v1/scope-maps",
            json={
                "name": scope_map,
                "actions": [f"repositories/{prefix}/*/content/read"],
                "description": "read a",
            },
        ),
        201,
    )
    assert created == {
        "name": scope_map,
        "description": "read a",
        "actions": [f"repositories/{prefix}/*/content/read"],
        "system": False,
    }
    maps = {m["name"]: m for m in ok(owner.get("/api/v1/scope-maps"))}
    assert maps["_repositories_pull"]["system"] is True
    assert scope_map in maps
    assert_error(
        owner.post("/api/v1/scope-maps", json={"name": unique("m"), "actions": ["pull"]}),
        400,
        "UNSUPPORTED",
    )
    assert_error(owner.post("/api/v1/scope-maps", json={"name": unique("m"), "actions": []}), 400)

    token = unique("ci")
    made = ok(owner.post("/api/v1/tokens", json={"name": token, "scopeMap": scope_map}), 201)
    assert made["status"] == "enabled"
    assert made["scopeMap"] == scope_map
    passwords = {p["name"]: p["value"] for p in made["passwords"]}
    assert set(passwords) == {"password1", "password2"}
    assert_error(
        owner.post("/api/v1/tokens", json={"name": unique("t"), "scopeMap": "nope"}),
        404,
        "NOT_FOUND",
    )

    with registry.client(token, passwords["password1"]) as tok:
        assert_status(get_manifest(tok, f"{prefix}/x"), 200)
        assert_error(can_push(tok, f"{prefix}/x"), 403, "DENIED")
        assert_error(get_manifest(tok, f"{prefix}b/c"), 403, "DENIED")
        assert_error(tok.get("/api/v1/users"), 403, "DENIED")
        # Through the token service, as docker would: pull only.
        answer = tok.get(
            "/oauth2/token",
            params={
                "service": registry.server.host,
                "scope": [f"repository:{prefix}/x:pull,push", f"repository:{prefix}b/c:pull"],
            },
        )
        claims = jwt.decode(ok(answer)["token"], options={"verify_signature": False})
        assert claims["access"] == [
            {"type": "repository", "name": f"{prefix}/x", "actions": ["pull"]},
            {"type": "repository", "name": f"{prefix}b/c", "actions": []},
        ]

        # Widening the scope map widens the token at once.
        updated = ok(
            owner.patch(
                f"/api/v1/scope-maps/{scope_map}",
                json={"add": [f"repositories/{prefix}/*/content/write"], "description": "rw"},
            )
        )
        assert updated["description"] == "rw"
        assert f"repositories/{prefix}/*/content/write" in updated["actions"]
        assert_status(can_push(tok, f"{prefix}/x"), 202)
        ok(
            owner.patch(
                f"/api/v1/scope-maps/{scope_map}",
                json={"remove": [f"repositories/{prefix}/*/content/write"]},
            )
        )
        assert_error(can_push(tok, f"{prefix}/x"), 403, "DENIED")

        # Disabled, the token fails; enabled again, it works.
        assert ok(owner.post(f"/api/v1/tokens/{token}/disable"))["status"] == "disabled"
        assert_error(get_manifest(tok, f"{prefix}/x"), 401, "UNAUTHORIZED")
        assert ok(owner.post(f"/api/v1/tokens/{token}/enable"))["status"] == "enabled"
        assert_status(get_manifest(tok, f"{prefix}/x"), 200)

    # A new password1 with an expiry replaces the old one; password2 is untouched.
    renewed = ok(
        owner.post(f"/api/v1/tokens/{token}/credentials", json={"password": 1, "expiryDays": 30})
    )
    [secret] = renewed["passwords"]
    assert secret["name"] == "password1"
    assert secret["expiry"]
    with registry.client(token, passwords["password1"]) as old:
        assert_error(get_manifest(old, f"{prefix}/x"), 401)
    with registry.client(token, secret["value"]) as new:
        assert_status(get_manifest(new, f"{prefix}/x"), 200)
    with registry.client(token, passwords["password2"]) as second:
        assert_status(get_manifest(second, f"{prefix}/x"), 200)
    assert_error(
        owner.post(f"/api/v1/tokens/{token}/credentials", json={"password": 3}), 400, "UNSUPPORTED"
    )
    listed = {t["name"]: t for t in ok(owner.get("/api/v1/tokens"))}
    expiries = {p["name"]: p["expiry"] for p in listed[token]["passwords"]}
    assert expiries["password1"] is not None
    assert expiries["password2"] is None
    assert ok(owner.get(f"/api/v1/tokens/{token}"))["scopeMap"] == scope_map

    # A scope map in use stays; system scope maps never go.
    assert_error(owner.delete(f"/api/v1/scope-maps/{scope_map}"), 409, "CONFLICT")
    assert_error(owner.delete("/api/v1/scope-maps/_repositories_pull"), 409, "CONFLICT")
    ok(owner.delete(f"/api/v1/tokens/{token}"), 204)
    with registry.client(token, passwords["password2"]) as gone:
        assert_error(get_manifest(gone, f"{prefix}/x"), 401)
    ok(owner.delete(f"/api/v1/scope-maps/{scope_map}"), 204)
    assert_error(owner.get(f"/api/v1/scope-maps/{scope_map}"), 404, "NOT_FOUND")


def test_disabled_token_is_refused_from_the_start(registry: Registry, owner: httpx.Client) -> None:
    repo = unique("d") + "/x"
    push_image(owner, repo, "v1")
    token = unique("off")
    made = ok(
        owner.post(
            "/api/v1/tokens",
            json={"name": token, "scopeMap": "_repositories_pull", "status": "disabled"},
        ),
        201,
    )
    password = made["passwords"][0]["value"]
    with registry.client(token, password) as tok:
        assert_error(get_manifest(tok, repo), 401, "UNAUTHORIZED")
        ok(owner.post(f"/api/v1/tokens/{token}/enable"))
        assert_status(get_manifest(tok, repo), 200)


# --- settings and the admin user -----------------------------------------------------------------


def test_anonymous_pull_switch(registry: Registry, owner: httpx.Client) -> None:
    repo = unique("pub") + "/x"
    push_image(owner, repo, "v1")
    assert ok(owner.get("/api/v1/settings/anonymous-pull")) == {"enabled": False}
    with registry.client() as anon:
        assert_error(get_manifest(anon, repo), 401, "UNAUTHORIZED")
        assert ok(owner.put("/api/v1/settings/anonymous-pull", json={"enabled": True})) == {
            "enabled": True
        }
        assert_status(get_manifest(anon, repo), 200)
        token = anon.get(
            "/oauth2/token",
            params={"service": registry.server.host, "scope": f"repository:{repo}:pull,push"},
        )
        claims = jwt.decode(ok(token)["token"], options={"verify_signature": False})
        assert claims["access"][0]["actions"] == ["pull"]
        assert_error(can_push(anon, repo), 401)
        assert_error(anon.get("/api/v1/settings/anonymous-pull"), 401)
        assert ok(owner.put("/api/v1/settings/anonymous-pull", json={"enabled": False})) == {
            "enabled": False
        }
        assert_error(get_manifest(anon, repo), 401, "UNAUTHORIZED")
    assert_error(owner.put("/api/v1/settings/anonymous-pull", json={"enabled": "maybe"}), 400)


def test_admin_user(registry: Registry, owner: httpx.Client) -> None:
    assert ok(owner.get("/api/v1/admin")) == {"enabled": False, "username": "admin"}

    def status(password: str) -> int:
        resp = registry.anon.get("/api/v1/users", headers=basic_header("admin", password))
        return resp.status_code

    enabled = ok(owner.post("/api/v1/admin/enable"))
    assert enabled["enabled"] is True
    assert enabled["username"] == "admin"
    passwords = {p["name"]: p["value"] for p in enabled["passwords"]}
    assert set(passwords) == {"password", "password2"}
    assert status(passwords["password"]) == 200
    assert status(passwords["password2"]) == 200

    renewed = ok(owner.post("/api/v1/admin/credentials/1/regenerate"))
    [secret] = renewed["passwords"]
    assert secret["name"] == "password"
    assert status(passwords["password"]) == 401
    assert status(secret["value"]) == 200
    assert status(passwords["password2"]) == 200
    assert_error(owner.post("/api/v1/admin/credentials/3/regenerate"), 400, "UNSUPPORTED")

    assert ok(owner.post("/api/v1/admin/disable")) == {"enabled": False, "username": "admin"}
    assert status(secret["value"]) == 401
    again = ok(owner.post("/api/v1/admin/enable"))
    assert again["passwords"] == []  # the kept passwords work again
    assert status(passwords["password2"]) == 200


# --- audit log and keys --------------------------------------------------------------------------


def test_audit_log_names_who_changed_what(registry: Registry, owner: httpx.Client) -> None:
    name = unique("audited")
    secrets = [create_user(owner, name, "AcrPull")]
    ok(
        owner.post(
            "/api/v1/scope-maps", json={"name": name, "actions": ["repositories/z/content/read"]}
        ),
        201,
    )
    made = ok(owner.post("/api/v1/tokens", json={"name": f"{name}-t", "scopeMap": name}), 201)
    secrets += [p["value"] for p in made["passwords"]]
    ok(owner.put("/api/v1/settings/anonymous-pull", json={"enabled": True}))
    secrets += [p["value"] for p in ok(owner.post("/api/v1/admin/enable"))["passwords"]]
    kid = ok(owner.post("/api/v1/keys/rotate"))["kid"]
    ok(owner.delete(f"/api/v1/users/{name}"), 204)

    entries = registry.audit()
    by_owner = {e["event"] for e in entries if e["actor"] == "user:owner" and e["outcome"] == "ok"}
    assert {
        "user.create",
        "role.assign",
        "scope-map.create",
        "token.create",
        "setting.change",
        "admin.enable",
        "keys.rotate",
        "user.delete",
    } <= by_owner, by_owner
    assert any(e["event"] == "keys.rotate" and e.get("kid") == kid for e in entries)
    assert any(e["event"] == "user.create" and e.get("user") == name for e in entries)
    raw = (registry.server.data_dir / "audit.log").read_text()
    assert not [secret for secret in secrets if secret in raw], "a password in the audit log"
    assert ok(owner.get("/api/v1/audit", params={"limit": 2})) == entries[-2:]
    assert_error(owner.get("/api/v1/audit", params={"limit": 0}), 400)


def test_key_rotation_keeps_issued_tokens_valid(registry: Registry, owner: httpx.Client) -> None:
    def access_token() -> str:
        resp = owner.get(
            "/oauth2/token",
            params={"service": registry.server.host, "scope": "registry:management:read"},
        )
        return str(ok(resp)["access_token"])

    before = access_token()
    kid = ok(owner.post("/api/v1/keys/rotate"))["kid"]
    after = access_token()
    assert jwt.get_unverified_header(after)["kid"] == kid
    assert jwt.get_unverified_header(before)["kid"] != kid
    for token in (before, after):
        resp = registry.anon.get("/api/v1/admin", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, describe(resp)


def test_without_auth_everyone_manages(registry_factory: RegistryFactory) -> None:
    registry = registry_factory()
    name = unique("free")
    anon = sync_client(registry)
    assert_status(anon.post("/api/v1/users", json={"name": name}), 201)
    assert name in {u["name"] for u in ok(anon.get("/api/v1/users"))}
    ok(anon.post("/api/v1/keys/rotate"))
    anon.close()
    deadline = time.monotonic() + 5
    audit = registry.services.settings.data_dir / "audit.log"
    while not audit.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert '"event":"user.create","actor":"anonymous"' in audit.read_text()
