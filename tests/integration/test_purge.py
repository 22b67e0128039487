"""`dockyard purge` and POST /api/v1/purge with ACR's rules: filters, --ago, --keep, --untagged,
--dry-run and --include-locked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.cleanup_helpers import (
    DAY,
    assert_consistent,
    cli,
    manifest_status,
    soft_delete_on,
    sql,
    tags_of,
)
from tests.integration.helpers import (
    Pushed,
    artifact_manifest,
    assert_error,
    assert_status,
    image_manifest,
    index_manifest,
    push,
)
from tests.integration.test_events import outbox


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(
        env={"DOCKYARD_GC_ENABLED": "false", "DOCKYARD_CLI_CONFIG": str(tmp_path / "cli.json")}
    )


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def age_tag(server: ServerProcess, repo: str, tag: str, days: float) -> None:
    sql(
        server,
        "UPDATE tags SET updated_at = updated_at - :s WHERE name = :t AND repository_id = "
        "(SELECT id FROM repositories WHERE name = :r)",
        s=days * DAY,
        t=tag,
        r=repo,
    )


def age_manifest(server: ServerProcess, manifest: Pushed, days: float) -> None:
    sql(
        server,
        "UPDATE manifests SET created_at = created_at - :s WHERE digest = :d",
        s=days * DAY,
        d=manifest.digest,
    )


def present(client: httpx.Client, repo: str, *manifests: Pushed) -> list[bool]:
    return [manifest_status(client, repo, m.digest) == 200 for m in manifests]


def purged(answer: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    tags = sorted((t["repository"], t["tag"]) for t in answer["tags"])
    return tags, sorted(m["digest"] for m in answer["manifests"])


def test_purge_deletes_old_matching_tags_keeping_the_newest(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo, other = "purge/app", "purge/app-other"
    soft_delete_on(client)
    images = {
        tag: push(client, repo, image_manifest(client, repo), tag)
        for tag in ("v1", "v2", "v3", "v4", "v5", "dev-1", "latest")
    }
    push(client, other, image_manifest(client, other), "v1")
    for tag, days in (("v1", 5), ("v2", 4), ("v3", 3), ("dev-1", 2.5), ("v4", 2), ("latest", 6)):
        age_tag(server, repo, tag, days)
    age_tag(server, other, "v1", 5)
    # Two filters add up; the repository expression matches whole names (not purge/app-other),
    # the tag expression anywhere in a tag ("ev-" finds dev-1).
    args = ("purge", "--filter", f"{repo}:^v[0-9]$", "-f", f"{repo}:ev-", "--ago", "1d")
    expected = [(repo, "dev-1"), (repo, "v1"), (repo, "v2"), (repo, "v3")]

    dry = cli(server, *args, "--keep", "1", "--dry-run")
    assert dry["dry_run"] is True
    assert dry["repositories"] == [repo]
    assert purged(dry) == (expected, [])
    assert tags_of(client, repo) == ["dev-1", "latest", "v1", "v2", "v3", "v4", "v5"]

    done = cli(server, *args, "--keep", "1")
    assert done["dry_run"] is False
    assert purged(done) == (expected, [])
    assert tags_of(client, repo) == ["latest", "v4", "v5"]
    assert tags_of(client, other) == ["v1"]
    # Only tags went (no --untagged); each through the registry's delete: events, soft delete.
    assert all(present(client, repo, *images.values()))
    tag_deletes = sorted(e["target"]["tag"] for e in outbox(server) if e["action"] == "tag_delete")
    assert tag_deletes == ["dev-1", "v1", "v2", "v3"]
    resp = client.get(f"/api/v1/repositories/{repo}/deleted-tags")
    assert sorted(t["tag"] for t in resp.json()["tags"]) == ["dev-1", "v1", "v2", "v3"]

    table = server.dockyard("purge", "-f", f"{repo}:.*", "--ago", "1d", "-r", server.url)
    assert table.returncode == 0, table.stderr
    assert "deleted 2 tags and 0 manifests in 1 matching repositories" in table.stdout
    assert "latest" in table.stdout
    assert tags_of(client, repo) == ["v5"]


def test_untagged_manifests_go_unless_an_index_or_a_subject_needs_them(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "purge/multi"
    old = push(client, repo, image_manifest(client, repo), "old")
    signature_of_old = push(client, repo, artifact_manifest(client, repo, subject=old.descriptor()))
    child_a = push(client, repo, image_manifest(client, repo))
    child_b = push(client, repo, image_manifest(client, repo))
    release = push(client, repo, index_manifest([child_a, child_b]), "release")
    signature_of_release = push(
        client, repo, artifact_manifest(client, repo, subject=release.descriptor())
    )
    orphan_child = push(client, repo, image_manifest(client, repo))
    loose_index = push(client, repo, index_manifest([orphan_child]))
    young = push(client, repo, image_manifest(client, repo))
    for manifest in (old, child_a, child_b, release, signature_of_release, orphan_child):
        age_manifest(server, manifest, 3)
    age_manifest(server, loose_index, 3)
    for tag in ("old", "release"):
        age_tag(server, repo, tag, 3)
    # The signature of `old` is young: it goes with its subject all the same, as in ACR.
    gone = [old, loose_index, orphan_child, signature_of_old]
    stay = [child_a, child_b, release, signature_of_release, young]
    args = ("purge", "--filter", f"{repo}:^old$", "--ago", "2d", "--untagged")

    dry = cli(server, *args, "--dry-run")
    assert purged(dry) == ([(repo, "old")], sorted(m.digest for m in gone))
    assert all(present(client, repo, *gone, *stay))

    done = cli(server, *args)
    assert purged(done) == ([(repo, "old")], sorted(m.digest for m in gone))
    assert present(client, repo, *gone) == [False] * len(gone)
    assert present(client, repo, *stay) == [True] * len(stay)
    assert tags_of(client, repo) == ["release"]
    assert_consistent(server)


def test_locked_items_stay_unless_include_locked(
    server: ServerProcess, client: httpx.Client
) -> None:
    repo = "purge/locked"
    pinned = push(client, repo, image_manifest(client, repo), "pinned")
    loose = push(client, repo, image_manifest(client, repo), "loose")
    frozen = push(client, repo, image_manifest(client, repo))  # untagged and locked
    resp = client.patch(f"/acr/v1/{repo}/_tags/pinned", json={"writeEnabled": False})
    assert_status(resp, 200)
    resp = client.patch(f"/acr/v1/{repo}/_manifests/{frozen.digest}", json={"deleteEnabled": False})
    assert_status(resp, 200)
    for manifest in (pinned, loose, frozen):
        age_manifest(server, manifest, 2)
    for tag in ("pinned", "loose"):
        age_tag(server, repo, tag, 2)
    args = ("purge", "--filter", f"{repo}:.*", "--ago", "1d", "--untagged")

    done = cli(server, *args)
    assert purged(done) == ([(repo, "loose")], [loose.digest])
    assert sorted(s["reference"] for s in done["skipped"]) == sorted(["pinned", frozen.digest])
    assert all("locked" in s["reason"] for s in done["skipped"])
    assert present(client, repo, pinned, frozen) == [True, True]

    dry = cli(server, *args, "--include-locked", "--dry-run")
    assert purged(dry) == ([(repo, "pinned")], sorted([pinned.digest, frozen.digest]))
    attributes = client.get(f"/acr/v1/{repo}/_tags/pinned").json()["tag"]
    assert attributes["changeableAttributes"]["writeEnabled"] is False, "a dry run unlocked"

    done = cli(server, *args, "--include-locked")
    assert purged(done) == ([(repo, "pinned")], sorted([pinned.digest, frozen.digest]))
    assert present(client, repo, pinned, frozen) == [False, False]
    assert tags_of(client, repo) == []
    assert_consistent(server)


def test_a_locked_repository_keeps_everything(server: ServerProcess, client: httpx.Client) -> None:
    repo = "purge/readonly"
    image = push(client, repo, image_manifest(client, repo), "v1")
    age_tag(server, repo, "v1", 2)
    assert_status(client.patch(f"/acr/v1/{repo}", json={"writeEnabled": False}), 200)
    done = cli(server, "purge", "-f", f"{repo}:.*", "--ago", "1d", "--include-locked")
    assert purged(done) == ([], [])
    assert [s["reference"] for s in done["skipped"]] == [""]
    assert present(client, repo, image) == [True]


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({"filters": ["a:b:c"], "ago": "1d"}, "one separating colon"),
        ({"filters": ["app:("], "ago": "1d"}, "invalid tag expression"),
        ({"filters": ["(:v1"], "ago": "1d"}, "invalid repository expression"),
        ({"filters": [":v1"], "ago": "1d"}, "no repository expression"),
        ({"filters": ["app:.*"], "ago": "3x"}, "invalid duration '3x'"),
        ({"filters": ["app:.*"], "ago": ""}, "duration is empty"),
        ({"filters": [], "ago": "1d"}, "filters"),
        ({"filters": ["app:.*"], "ago": "1d", "keep": -1}, "keep"),
    ],
)
def test_bad_filters_and_durations_are_refused(
    client: httpx.Client, body: dict[str, Any], wanted: str
) -> None:
    resp = client.post("/api/v1/purge", json=body)
    errors = assert_error(resp, 400, "UNSUPPORTED")
    assert wanted in errors[0]["message"]


def test_the_cli_refuses_a_bad_filter_before_asking(server: ServerProcess) -> None:
    def refusal(*args: str) -> str:
        result = server.dockyard("purge", *args, "-r", server.url)
        assert result.returncode == 2, result.stdout
        return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())  # unwrap the box

    assert "one separating colon" in refusal("-f", "app", "--ago", "1d")
    assert "invalid duration 'soon'" in refusal("-f", "app:.*", "--ago", "soon")
