"""`dockyard repository list|show|show-tags|show-manifests|delete|untag|update` and `dockyard
manifest list-referrers`, run as a user runs them (a subprocess with its own credentials file)
against a real server; their effects are checked over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.helpers import (
    OCI_MANIFEST,
    artifact_manifest,
    assert_error,
    assert_status,
    image_manifest,
    push,
    push_image,
)

# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): the CLI is an HTTP
# client: its effects are the /acr/v1 API's, which test_acr_api.py, test_locks.py and
# test_delete_repo.py check on PostgreSQL.
pytestmark = pytest.mark.db_independent

AUTH_ENV = {"DOCKYARD_AUTH_ENABLED": "true"}


@dataclass
class Cli:
    """The dockyard CLI pointed at one server, with a throwaway HOME and credentials file."""

    server: ServerProcess
    tmp: Path

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(
            HOME=str(self.tmp),
            DOCKYARD_CLI_CONFIG=str(self.tmp / "credentials.json"),
            DOCKYARD_REGISTRY=self.server.url,
            COLUMNS="250",
        )
        return subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, f"dockyard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode != 0, f"dockyard {' '.join(args)} succeeded:\n{done.stdout}"
        return done.stdout + done.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))


@pytest.fixture
def cli(server: ServerProcess, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    resp = client.get(f"/v2/{repo}/tags/list")
    assert_status(resp, 200)
    names: list[str] = resp.json()["tags"]
    return names


# --- reading ------------------------------------------------------------------------------------


def test_list_and_show(cli: Cli, client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    push_image(client, f"{repo}-second", "v1")

    names = cli.json("repository", "list")
    assert repo in names
    assert f"{repo}-second" in names
    assert len(cli.json("repository", "list", "--top", "1")) == 1
    assert repo in cli.ok("repository", "list")

    shown = cli.json("repository", "show", "--repository", repo)
    assert shown == client.get(f"/acr/v1/{repo}").json()
    assert shown["manifestCount"] == 1
    table = cli.ok("repository", "show", "--repository", repo)
    assert "write-once tags" in table
    assert repo in table

    tag = cli.json("repository", "show", "--image", f"{repo}:v1")
    assert tag["tag"]["digest"] == image.digest
    manifest = cli.json("repository", "show", "--image", f"{repo}@{image.digest}")
    assert manifest["manifest"]["tags"] == ["v1"]
    table = cli.ok("repository", "show", "--image", f"{repo}@{image.digest}")
    assert "linux/amd64" in table
    assert image.digest in table


def test_show_tags_and_manifests_page_through_everything(
    cli: Cli, client: httpx.Client, repo: str
) -> None:
    image = push_image(client, repo, "t000")
    tags = [f"t{i:03d}" for i in range(105)]  # more than one page of the CLI's listings
    for tag in tags[1:]:
        push(client, repo, image, tag)
    time.sleep(0.02)
    newest = push_image(client, repo, "latest")

    listed = cli.json("repository", "show-tags", "--repository", repo)
    assert listed == sorted([*tags, "latest"])
    by_time = cli.json("repository", "show-tags", "--repository", repo, "--orderby", "time_desc")
    assert by_time[0] == "latest"
    assert len(cli.json("repository", "show-tags", "--repository", repo, "--top", "3")) == 3
    detail = cli.json("repository", "show-tags", "--repository", repo, "--detail", "--top", "2")
    assert [(t["name"], t["digest"]) for t in detail] == [
        ("latest", newest.digest),
        ("t000", image.digest),
    ]
    assert detail[0]["changeableAttributes"]["writeEnabled"] is True
    assert "t104" in cli.ok("repository", "show-tags", "--repository", repo)

    manifests = cli.json(
        "repository", "show-manifests", "--repository", repo, "--orderby", "time_desc"
    )
    assert [m["digest"] for m in manifests] == [newest.digest, image.digest]
    assert manifests[0]["tags"] == ["latest"]
    detail = cli.json("repository", "show-manifests", "--repository", repo, "--detail")
    assert {m["architecture"] for m in detail} == {"amd64"}
    table = cli.ok("repository", "show-manifests", "--repository", repo)
    assert newest.digest in table
    assert "latest" in table
    # Platforms are among the detailed fields, in the table as in JSON.
    table = cli.ok("repository", "show-manifests", repo, "--detail")
    assert "amd64" in table


# --- changing -------------------------------------------------------------------------------------


def test_update_locks_and_write_once_tags(cli: Cli, client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    out = cli.ok("repository", "update", "--image", f"{repo}:v1", "--write-enabled", "false")
    assert "write" in out
    other = image_manifest(client, repo)
    resp = client.put(
        f"/v2/{repo}/manifests/v1", content=other.body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_error(resp, 405, "REGISTRY_DISALLOWED_OPERATION")
    attributes = cli.json("repository", "show", "--image", f"{repo}:v1")["tag"]
    assert attributes["changeableAttributes"]["writeEnabled"] is False

    cli.ok("repository", "update", "--image", f"{repo}@{image.digest}", "--delete-enabled", "false")
    error = cli.fails("repository", "delete", "--image", f"{repo}@{image.digest}", "--yes")
    assert "REGISTRY_DISALLOWED_OPERATION" in error
    assert "locked" in error
    assert_status(client.get(f"/v2/{repo}/manifests/{image.digest}"), 200)

    answer = cli.json("repository", "update", "--repository", repo, "--immutable-tags")
    assert answer["changeableAttributes"]["tagImmutability"] is True
    answer = cli.json(
        "repository", "update", "--repository", repo, "--mutable-tags", "--list-enabled", "false"
    )
    assert answer["changeableAttributes"]["tagImmutability"] is False
    assert answer["changeableAttributes"]["listEnabled"] is False
    assert repo not in cli.json("repository", "list")

    assert "--repository" in cli.fails(
        "repository", "update", "--image", f"{repo}:v1", "--immutable-tags"
    )
    assert "nothing to change" in cli.fails("repository", "update", "--repository", repo)
    assert "give one repository or image" in cli.fails(
        "repository", "update", "--write-enabled", "true"
    )
    cli.fails("repository", "update", "--repository", repo, "--write-enabled", "maybe")


def test_untag_and_delete(cli: Cli, client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    push(client, repo, image, "v2")
    push(client, repo, image, "v3")
    kept = push_image(client, repo, "other")

    assert f"untagged {repo}:v2" in cli.ok("repository", "untag", "--image", f"{repo}:v2")
    assert tags_of(client, repo) == ["other", "v1", "v3"]
    assert_status(client.get(f"/v2/{repo}/manifests/{image.digest}"), 200)
    assert "repository:tag" in cli.fails("repository", "untag", "--image", f"{repo}@{image.digest}")

    # Without --yes it asks; "no" keeps everything.
    cli.fails("repository", "delete", "--image", f"{repo}:v1", stdin="n\n")
    assert tags_of(client, repo) == ["other", "v1", "v3"]
    # Deleting by tag deletes the manifest and every tag on it, as `az acr` does.
    out = cli.ok("repository", "delete", "--image", f"{repo}:v1", "--yes")
    assert image.digest in out
    assert tags_of(client, repo) == ["other"]
    assert_error(client.get(f"/v2/{repo}/manifests/{image.digest}"), 404, "MANIFEST_UNKNOWN")

    answer = cli.json("repository", "delete", "--repository", repo, "--yes")
    assert answer == {"manifestsDeleted": [kept.digest], "tagsDeleted": ["other"]}
    assert_error(client.get(f"/acr/v1/{repo}"), 404, "NAME_UNKNOWN")
    error = cli.fails("repository", "show", "--repository", repo)
    assert "NAME_UNKNOWN" in error


def test_list_referrers(cli: Cli, client: httpx.Client, repo: str) -> None:
    image = push_image(client, repo, "v1")
    subject = image.descriptor()
    sbom = push(
        client, repo, artifact_manifest(client, repo, artifact_type="x/sbom", subject=subject)
    )
    signature = push(
        client, repo, artifact_manifest(client, repo, artifact_type="x/sig", subject=subject)
    )

    answer = cli.json("manifest", "list-referrers", "--name", f"{repo}:v1")
    assert answer["subject"] == f"{repo}@{image.digest}"
    assert {m["digest"] for m in answer["manifests"]} == {sbom.digest, signature.digest}
    only = cli.json(
        "manifest", "list-referrers", "--name", f"{repo}@{image.digest}", "--artifact-type", "x/sig"
    )
    assert [m["digest"] for m in only["manifests"]] == [signature.digest]
    table = cli.ok("manifest", "list-referrers", "-n", f"{repo}:v1")
    assert sbom.digest in table
    assert "x/sbom" in table

    assert "is not repository:tag" in cli.fails("manifest", "list-referrers", "--name", repo)
    assert "MANIFEST_UNKNOWN" in cli.fails("manifest", "list-referrers", "--name", f"{repo}:nope")


# --- with auth on ---------------------------------------------------------------------------------


def test_commands_use_the_stored_login_and_report_refusals(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(env=AUTH_ENV)
    password = (server.data_dir / "initial-owner-password").read_text().strip()
    cli = Cli(server, tmp_path)
    repo = "secured/app"
    with httpx.Client(base_url=server.url, auth=("owner", password), timeout=60) as owner:
        image = push_image(owner, repo, "v1")

    assert "401 UNAUTHORIZED" in cli.fails("repository", "list")  # not logged in yet
    cli.ok("login", "-u", "owner", "--password-stdin", stdin=password + "\n")
    assert cli.json("repository", "list") == [repo]
    cli.ok("repository", "update", "--image", f"{repo}:v1", "--read-enabled", "false")
    with httpx.Client(base_url=server.url, auth=("owner", password), timeout=60) as owner:
        resp = owner.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert_error(resp, 405, "REGISTRY_DISALLOWED_OPERATION")
        assert_status(owner.get(f"/v2/{repo}/manifests/{image.digest}"), 200)

    reader = cli.json("user", "create", "--name", "looker")["password"]
    cli.ok("role", "assign", "--principal", "looker", "--role", "Reader", "--scope", repo)
    as_reader = ("-u", "looker", "-p", reader)
    assert cli.json("repository", "show-tags", "--repository", repo, *as_reader) == ["v1"]
    error = cli.fails(
        "repository", "update", "--repository", repo, "--read-enabled", "false", *as_reader
    )
    assert "403" in error
    assert "DENIED" in error
