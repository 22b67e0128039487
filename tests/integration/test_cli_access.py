"""The access-control CLI (`dockyard login`, `user`, `role`, `scope-map`, `token`,
`credential`, `admin`, `config`, `audit`, `keys`) run as a user runs it, as a subprocess
against a real auth-enabled server, with its own credentials file and a throwaway HOME and
DOCKER_CONFIG; effects are checked over HTTP."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.helpers import assert_status, describe, push_image

AUTH_ENV = {"DOCKYARD_AUTH_ENABLED": "true"}
NULL_GUID = "00000000-0000-0000-0000-000000000000"
QUICK_START_NOTE = "using the local quick-start registry http://127.0.0.1:5000"
MANIFEST_ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}

FAKE_DOCKER = """#!{python}
# Records how it was called, as the real `docker login` would be.
import json, os, sys
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read()}}) + "\\n")
print("Login Succeeded")
"""

# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): the CLI is an HTTP
# client: what it does to access data is the management API's, which test_management_api.py checks
# on PostgreSQL.
pytestmark = pytest.mark.db_independent


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass
class Cli:
    server: ServerProcess
    tmp: Path
    owner_password: str
    path: str = ""
    env_extra: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.tmp / "cli" / "credentials.json"

    @property
    def docker_log(self) -> Path:
        return self.tmp / "docker-calls.jsonl"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DOCKYARD_") and k not in ("DOCKER_HOST",)
        }
        env.update(
            HOME=str(self.tmp / "home"),
            DOCKER_CONFIG=str(self.tmp / "docker-config"),
            DOCKYARD_CLI_CONFIG=str(self.config),
            FAKE_DOCKER_LOG=str(self.docker_log),
            PATH=self.path or str(self.tmp / "empty-bin"),
            COLUMNS="200",
        )
        env.update(self.env_extra)
        return env

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, f"dockyard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def fails(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode != 0, f"dockyard {' '.join(args)} succeeded:\n{done.stdout}"
        return done.stdout + done.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def login_owner(self) -> str:
        return self.ok(
            "login",
            "-r",
            self.server.url,
            "-u",
            "owner",
            "--password-stdin",
            stdin=self.owner_password + "\n",
        )

    def http(self, username: str | None = None, password: str | None = None) -> httpx.Client:
        auth = httpx.BasicAuth(username, password or "") if username else None
        return httpx.Client(base_url=self.server.url, auth=auth, timeout=60)

    def owner(self) -> httpx.Client:
        return self.http("owner", self.owner_password)


@pytest.fixture
def cli(server_factory: type[ServerProcess], tmp_path: Path) -> Cli:
    server = server_factory(env=AUTH_ENV)
    password = (server.data_dir / "initial-owner-password").read_text().strip()
    for folder in ("home", "docker-config", "empty-bin"):
        (tmp_path / folder).mkdir()
    return Cli(server, tmp_path, password)


@pytest.fixture
def fake_docker(cli: Cli) -> Path:
    folder = cli.tmp / "fake-bin"
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(0o755)
    cli.path = str(folder)
    return docker


def secret(output: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}(?: \(expires [^)]*\))?: (\S+)$", output, re.M)
    assert match, f"no {label} in:\n{output}"
    return match.group(1)


def manifest_status(http: httpx.Client, repo: str) -> int:
    return http.get(f"/v2/{repo}/manifests/v1", headers=MANIFEST_ACCEPT).status_code


def push_status(http: httpx.Client, repo: str) -> int:
    return http.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"}).status_code


# --- login ---------------------------------------------------------------------------------------


def test_login_stores_a_refresh_token_for_docker_and_dockyard(cli: Cli, fake_docker: Path) -> None:
    done = cli.run(
        "login",
        "-r",
        cli.server.url,
        "-u",
        "owner",
        "--password-stdin",
        stdin=cli.owner_password + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Login Succeeded" in done.stdout
    assert "docker is logged in" in done.stderr

    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    stored = json.loads(cli.config.read_text())
    assert stored["current"] == cli.server.url
    entry = stored["registries"][cli.server.url]
    assert entry["username"] == "owner"
    assert entry["service"] == cli.server.host
    refresh = entry["refresh_token"]
    assert cli.owner_password not in cli.config.read_text()

    [call] = [json.loads(line) for line in cli.docker_log.read_text().splitlines()]
    assert call["argv"] == [
        "login",
        cli.server.host,
        "--username",
        NULL_GUID,
        "--password-stdin",
    ]
    assert call["stdin"] == refresh

    # What docker was given is a working credential: the null GUID and the refresh token.
    with cli.http(NULL_GUID, refresh) as http:
        assert_status(http.get("/v2/"), 200)
    # Later commands need no credentials and no -r.
    assert "owner" in {u["name"] for u in cli.json("user", "list")}

    out = cli.ok("logout")
    assert f"logged out of {cli.server.url}" in out
    assert cli.server.url not in json.loads(cli.config.read_text())["registries"]
    # With no login left, commands fall back to the local quick start, and say so.
    assert QUICK_START_NOTE in cli.run("user", "list").stderr


def test_login_without_docker_says_so_and_bad_passwords_fail(cli: Cli) -> None:
    wrong = cli.run(
        "login", "-r", cli.server.url, "-u", "owner", "--password-stdin", stdin="nope\n"
    )
    assert wrong.returncode == 1
    assert "401 UNAUTHORIZED" in wrong.stderr
    assert not cli.config.exists()

    done = cli.run("login", "-r", cli.server.url, "-u", "owner", "-p", cli.owner_password)
    assert done.returncode == 0, done.stderr
    assert "docker CLI is not installed" in done.stderr
    assert "Login Succeeded" in done.stdout
    assert cli.config.exists()
    assert not list((cli.tmp / "docker-config").iterdir())

    unreachable = cli.run("user", "list", "-r", "http://127.0.0.1:1")
    assert unreachable.returncode == 1
    assert "cannot reach" in unreachable.stderr


def test_registry_from_environment_and_explicit_credentials(cli: Cli) -> None:
    assert QUICK_START_NOTE in cli.run("user", "list").stderr
    cli.env_extra["DOCKYARD_REGISTRY"] = cli.server.url
    assert "401 UNAUTHORIZED" in cli.fails("user", "list")
    listed = cli.json("user", "list", "-u", "owner", "-p", cli.owner_password)
    assert [u["name"] for u in listed] == ["owner"]
    out = cli.fails("user", "list", "-u", "owner", "-p", "wrong")
    assert "401" in out


# --- users and roles -----------------------------------------------------------------------------


def test_user_and_role_commands(cli: Cli) -> None:
    cli.login_owner()
    name = unique("alice")
    created = cli.ok("user", "create", "--name", name)
    password = secret(created, "password")
    table = cli.ok("user", "list")
    assert name in table
    assert "enabled" in table
    team = unique("team")
    with cli.owner() as owner:
        push_image(owner, f"{team}/app", "v1")

    cli.ok("role", "assign", "--principal", name, "--role", "AcrPush", "--scope", f"{team}/*")
    assert f"{team}/*" in cli.ok("role", "list", "--principal", name)
    assert cli.json("role", "list", "--principal", name) == [
        {"principal": name, "role": "AcrPush", "scope": f"{team}/*"}
    ]
    assert "unknown role" in cli.fails("role", "assign", "--principal", name, "--role", "Boss")
    with cli.http(name, password) as alice:
        assert push_status(alice, f"{team}/app") == 202
        assert push_status(alice, f"{unique('else')}/app") == 403
        # A user without a management role is refused, with the reason.
        refused = cli.run("user", "list", "-u", name, "-p", password)
        assert refused.returncode == 1
        assert "403 DENIED" in refused.stderr

    new_password = secret(cli.ok("user", "reset-password", "--name", name), "password")
    with cli.http(name, password) as old:
        assert_status(old.get("/v2/"), 401)
    with cli.http(name, new_password) as alice:
        assert_status(alice.get("/v2/"), 200)
        assert "is disabled" in cli.ok("user", "disable", "--name", name)
        assert_status(alice.get("/v2/"), 401)
        assert "is enabled" in cli.ok("user", "enable", "--name", name)
        assert_status(alice.get("/v2/"), 200)
        cli.ok("role", "remove", "--principal", name, "--role", "AcrPush", "--scope", f"{team}/*")
        assert cli.json("role", "list", "--principal", name) == []
        assert push_status(alice, f"{team}/app") == 403
        assert "404" in cli.fails(
            "role", "remove", "--principal", name, "--role", "AcrPush", "--scope", f"{team}/*"
        )
        cli.ok("user", "delete", "--name", name, "--yes")
        assert_status(alice.get("/v2/"), 401)
    assert "not found" in cli.fails("user", "delete", "--name", name, "--yes")


def test_reader_cannot_create_users(cli: Cli) -> None:
    cli.login_owner()
    reader = unique("reader")
    password = secret(cli.ok("user", "create", "--name", reader), "password")
    cli.ok("role", "assign", "--principal", reader, "--role", "Reader")
    assert reader in cli.ok("user", "list", "-u", reader, "-p", password)
    refused = cli.run("user", "create", "--name", unique("x"), "-u", reader, "-p", password)
    assert refused.returncode == 1
    assert "403 DENIED" in refused.stderr
    assert "Owner or Contributor" in refused.stderr


# --- scope maps and tokens -----------------------------------------------------------------------


def test_scope_map_and_token_commands(cli: Cli) -> None:
    cli.login_owner()
    prefix = unique("a")
    with cli.owner() as owner:
        push_image(owner, f"{prefix}/x", "v1")
        push_image(owner, f"{prefix}b/c", "v1")

    scope_map = unique("reads-")
    out = cli.ok(
        "scope-map",
        "create",
        "--name",
        scope_map,
        "--repository",
        f"{prefix}/*",
        "content/read",
        "--description",
        "read the a team",
    )
    assert f"repositories/{prefix}/*/content/read" in out
    assert scope_map in cli.ok("scope-map", "list")
    shown = cli.json("scope-map", "show", "--name", scope_map)
    assert shown["actions"] == [f"repositories/{prefix}/*/content/read"]
    assert shown["description"] == "read the a team"
    assert "needs a repository and actions" in cli.fails(
        "scope-map", "create", "--name", unique("m"), "--repository", "lonely"
    )
    assert "no such option" in cli.fails(
        "scope-map", "create", "--name", unique("m"), "--repo", "x", "content/read"
    )

    token = unique("ci")
    made = cli.ok("token", "create", "--name", token, "--scope-map", scope_map)
    password1, password2 = secret(made, "password1"), secret(made, "password2")
    assert token in cli.ok("token", "list")

    with cli.http(token, password1) as tok:
        assert manifest_status(tok, f"{prefix}/x") == 200
        assert push_status(tok, f"{prefix}/x") == 403
        assert manifest_status(tok, f"{prefix}b/c") == 403

        cli.ok(
            "scope-map",
            "update",
            "--name",
            scope_map,
            "--add-repository",
            f"{prefix}/*",
            "content/write",
            "metadata/read",
        )
        assert push_status(tok, f"{prefix}/x") == 202
        cli.ok(
            "scope-map",
            "update",
            "--name",
            scope_map,
            "--remove-repository",
            f"{prefix}/*",
            "content/write",
        )
        assert push_status(tok, f"{prefix}/x") == 403
        assert cli.json("scope-map", "show", "--name", scope_map)["actions"] == [
            f"repositories/{prefix}/*/content/read",
            f"repositories/{prefix}/*/metadata/read",
        ]

        assert "is disabled" in cli.ok("token", "update", "--name", token, "--status", "disabled")
        assert manifest_status(tok, f"{prefix}/x") == 401
        assert "is enabled" in cli.ok("token", "update", "--name", token, "--status", "enabled")
        assert manifest_status(tok, f"{prefix}/x") == 200

    renewed = cli.ok(
        "token",
        "credential",
        "generate",
        "--name",
        token,
        "--password1",
        "--expiration-in-days",
        "30",
    )
    new_password1 = secret(renewed, "password1")
    assert "password2" not in renewed
    with cli.http(token, password1) as old:
        assert manifest_status(old, f"{prefix}/x") == 401
    with cli.http(token, new_password1) as new:
        assert manifest_status(new, f"{prefix}/x") == 200
    with cli.http(token, password2) as second:
        assert manifest_status(second, f"{prefix}/x") == 200
    [listed] = [t for t in cli.json("token", "list") if t["name"] == token]
    expiry = {p["name"]: p["expiry"] for p in listed["passwords"]}
    assert expiry["password1"] is not None
    assert expiry["password2"] is None

    # A raw --action works too; a scope map in use cannot go.
    other = unique("raw-")
    cli.ok(
        "scope-map", "create", "--name", other, "--action", f"repositories/{prefix}/x/content/read"
    )
    assert "409" in cli.fails("scope-map", "delete", "--name", scope_map, "--yes")
    cli.ok("token", "delete", "--name", token, "--yes")
    with cli.http(token, password2) as gone:
        assert manifest_status(gone, f"{prefix}/x") == 401
    cli.ok("scope-map", "delete", "--name", scope_map, "--yes")
    cli.ok("scope-map", "delete", "--name", other, "--yes")
    assert "not found" in cli.fails("scope-map", "show", "--name", scope_map)


def test_disabled_token_created_disabled(cli: Cli) -> None:
    cli.login_owner()
    repo = unique("d") + "/x"
    with cli.owner() as owner:
        push_image(owner, repo, "v1")
    token = unique("off")
    made = cli.json(
        "token",
        "create",
        "--name",
        token,
        "--scope-map",
        "_repositories_pull",
        "--status",
        "disabled",
    )
    assert made["status"] == "disabled"
    with cli.http(token, made["passwords"][0]["value"]) as tok:
        assert manifest_status(tok, repo) == 401
        cli.ok("token", "update", "--name", token, "--status", "enabled")
        assert manifest_status(tok, repo) == 200


# --- admin user, settings, audit, keys -----------------------------------------------------------


def test_admin_credentials(cli: Cli) -> None:
    cli.login_owner()
    shown = cli.ok("credential", "show")
    assert "admin" in shown
    assert "no" in shown
    assert cli.json("credential", "show") == {"enabled": False, "username": "admin"}

    enabled = cli.ok("admin", "enable")
    password, password2 = secret(enabled, "password"), secret(enabled, "password2")
    with cli.http("admin", password) as admin:
        assert_status(admin.get("/api/v1/users"), 200)
    assert cli.json("credential", "show")["enabled"] is True

    renewed = cli.ok("credential", "renew", "--password-name", "password2")
    assert secret(renewed, "username") == "admin"
    new_password2 = secret(renewed, "password2")
    with cli.http("admin", password2) as old:
        assert_status(old.get("/v2/"), 401)
    with cli.http("admin", new_password2) as admin:
        assert_status(admin.get("/v2/"), 200)
        cli.ok("admin", "disable")
        assert_status(admin.get("/v2/"), 401)
    assert "password-name" in cli.fails("credential", "renew")


def test_anonymous_pull_audit_and_keys(cli: Cli) -> None:
    cli.login_owner()
    repo = unique("pub") + "/x"
    with cli.owner() as owner:
        push_image(owner, repo, "v1")
    assert "anonymous pull is off" in cli.ok("config", "anonymous-pull")
    with cli.http() as anon:
        assert manifest_status(anon, repo) == 401
        assert "anonymous pull is on" in cli.ok("config", "anonymous-pull", "on")
        assert manifest_status(anon, repo) == 200
        assert push_status(anon, repo) == 401
        assert "anonymous pull is on" in cli.ok("config", "anonymous-pull")
        cli.ok("config", "anonymous-pull", "off")
        assert manifest_status(anon, repo) == 401
    assert cli.run("config", "anonymous-pull", "maybe").returncode == 2

    rotated = cli.ok("keys", "rotate")
    kid = re.search(r"signed with key (\S+)", rotated)
    assert kid, rotated
    # The stored refresh token was signed by the old key and still works.
    assert cli.json("user", "list")

    entries = cli.json("audit", "--limit", "1000")
    mine = {(e["event"], e["actor"]) for e in entries}
    assert ("setting.change", "user:owner") in mine
    assert ("keys.rotate", "user:owner") in mine
    assert any(e.get("kid") == kid.group(1) for e in entries)
    table = cli.ok("audit", "--limit", "5")
    assert "keys.rotate" in table
    assert "user:owner" in table
    assert len(cli.json("audit", "--limit", "1")) == 1


def test_login_to_a_registry_without_auth(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    for folder in ("home", "docker-config", "empty-bin"):
        (tmp_path / folder).mkdir()
    cli = Cli(server, tmp_path, owner_password="")
    done = cli.run("login", "-r", server.url)
    assert done.returncode == 0, done.stderr
    assert "lets everyone in" in done.stdout
    name = unique("free")
    cli.ok("user", "create", "--name", name)
    assert name in {u["name"] for u in cli.json("user", "list")}
    resp = httpx.get(f"{server.url}/api/v1/users")
    assert resp.status_code == 200, describe(resp)
