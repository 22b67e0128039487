"""The content commands' typed calls (cli/content_api.py) against a real server: the recycle
bin, purge, quarantine and import of `/api/v1`, and ACR's data plane `/acr/v1`.

The `/acr/v1` answers and the import's progress lines are not in the OpenAPI document that
test_cli_api_client.py holds the wire models to, so here the models are held to real answers:
each answer, read into its model and written out again, is the answer the server sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

from dockyard.cli import content_api as content_api_module
from dockyard.cli.client import CliError, ManagementClient
from dockyard.cli.content_api import AcrApi, ContentApi, shape_json
from dockyard.wire.acr import (
    AcrManifests,
    ArtifactManifestProperties,
    ArtifactTagProperties,
    ContainerRepositoryProperties,
    DeleteRepositoryResult,
    RepositoryWriteableProperties,
    TagList,
    WriteableProperties,
)
from dockyard.wire.imports import (
    ImportBlob,
    ImportEvent,
    ImportFailed,
    ImportManifest,
    ImportPlan,
    ImportResult,
    ImportStarted,
)
from dockyard.wire.purge import PurgeResult
from dockyard.wire.quarantine import QuarantinedManifest
from dockyard.wire.recycle_bin import DeletedManifests, DeletedTags, Restored
from tests.conftest import ServerProcess
from tests.integration.helpers import assert_status, index_manifest, push, push_image
from tests.integration.test_cli_api_client import drift, wire_models

# What is checked is the client and the shapes, not the database.
pytestmark = pytest.mark.db_independent

# The server imports from itself: a loopback source, which needs the opt-in.
ALLOW_PRIVATE = {"DOCKYARD_IMPORT_ALLOW_PRIVATE_SOURCES": "true"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own: the tests change its policies."""
    server = ServerProcess(tmp_path_factory.mktemp("content-api"), workers=2, env=ALLOW_PRIVATE)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(registry: ServerProcess) -> Iterator[ManagementClient]:
    client = ManagementClient(registry.url, None)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def raw(registry: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=60) as client:
        yield client


def unique_repository() -> str:
    return f"typed/{uuid.uuid4().hex[:10]}"


def held_to(model: type[BaseModel], answer: Any) -> BaseModel:
    """`answer` read into `model`, checked to write out as the very answer."""
    read = model.model_validate(answer)
    assert shape_json(read) == answer
    return read


# --- /acr/v1 --------------------------------------------------------------------------------


def test_acr_models_are_the_servers_answers(http: ManagementClient, raw: httpx.Client) -> None:
    repo = unique_repository()
    amd64 = push_image(raw, repo, "amd64")
    arm64 = push_image(raw, repo)
    index = push(raw, repo, index_manifest([amd64, arm64]), "v1")
    acr = AcrApi(http)

    def answer(path: str) -> Any:
        resp = raw.get(f"/acr/v1/{repo}{path}")
        assert_status(resp, 200)
        return resp.json()

    held_to(ContainerRepositoryProperties, answer(""))
    repository = acr.get_repository(repo)
    assert shape_json(repository) == answer("")
    assert (repository.name, repository.tag_count, repository.manifest_count) == (repo, 2, 3)
    held_to(TagList, answer("/_tags"))
    held_to(AcrManifests, answer("/_manifests"))
    held_to(ArtifactTagProperties, answer("/_tags/v1"))
    # An index's attributes carry its platforms (`references`), an image's do not.
    shown = held_to(ArtifactManifestProperties, answer(f"/_manifests/{index.digest}"))
    assert isinstance(shown, ArtifactManifestProperties)
    assert [ref.digest for ref in shown.manifest.references or []] == [
        amd64.digest,
        arm64.digest,
    ]
    image = acr.get_manifest(repo, amd64.digest)
    assert image.manifest.references is None
    assert "references" not in shape_json(image)["manifest"]
    assert (image.manifest.architecture, image.manifest.operating_system) == ("amd64", "linux")

    tag = acr.get_tag(repo, "v1")
    assert tag.tag.digest == index.digest
    assert tag.tag.changeable_attributes.write_enabled is True


def test_acr_listings_page_through_everything(
    http: ManagementClient, raw: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = unique_repository()
    pushed = [push_image(raw, repo, f"t{i}") for i in range(5)]
    monkeypatch.setattr(content_api_module, "PAGE_SIZE", 2)  # three pages of tags
    acr = AcrApi(http)

    assert [tag.name for tag in acr.list_tags(repo)] == [f"t{i}" for i in range(5)]
    assert [tag.name for tag in acr.list_tags(repo, top=3)] == ["t0", "t1", "t2"]
    newest_first = acr.list_manifests(repo, orderby="timedesc")
    assert [m.digest for m in newest_first] == [p.digest for p in reversed(pushed)]
    assert len(acr.list_manifests(repo, top=1)) == 1
    assert repo in acr.list_repositories()
    assert len(acr.list_repositories(top=1)) == 1


def test_acr_changes_and_deletes(http: ManagementClient, raw: httpx.Client) -> None:
    repo = unique_repository()
    image = push_image(raw, repo, "v1")
    push(raw, repo, image, "v2")
    kept = push_image(raw, repo, "other")
    acr = AcrApi(http)

    locked = acr.update_tag(repo, "v1", WriteableProperties.model_construct(write_enabled=False))
    assert locked.tag.changeable_attributes.write_enabled is False
    assert locked.tag.changeable_attributes.delete_enabled is True  # not sent, not changed
    unlisted = acr.update_manifest(
        repo, kept.digest, WriteableProperties.model_construct(list_enabled=False)
    )
    assert unlisted.manifest.changeable_attributes.list_enabled is False
    write_once = acr.update_repository(
        repo, RepositoryWriteableProperties.model_construct(tag_immutability=True)
    )
    assert write_once.changeable_attributes.tag_immutability is True
    acr.update_repository(
        repo, RepositoryWriteableProperties.model_construct(tag_immutability=False)
    )

    acr.delete_tag(repo, "v2")
    assert [tag.name for tag in acr.list_tags(repo)] == ["other", "v1"]
    acr.update_tag(repo, "v1", WriteableProperties.model_construct(write_enabled=True))
    acr.delete_manifest(repo, image.digest)
    with pytest.raises(CliError, match="MANIFEST_UNKNOWN"):
        acr.get_manifest(repo, image.digest)

    deleted = acr.delete_repository(repo)
    assert isinstance(deleted, DeleteRepositoryResult)
    assert (deleted.deleted_manifests, deleted.deleted_tags) == ([kept.digest], ["other"])
    with pytest.raises(CliError, match="NAME_UNKNOWN"):
        acr.get_repository(repo)


def test_an_acr_answer_the_models_cannot_read_is_an_error_not_a_traceback() -> None:
    """A server that sends a field ACR's shape does not have: the model is named."""
    with pytest.raises(CliError, match=r"TagList.*cannot read") as failure:
        content_api_module.read(TagList, {"registry": "r", "imageName": "a", "tags": [], "x": 1})
    assert failure.value.hint is not None


# --- /api/v1 ----------------------------------------------------------------------------------


def test_recycle_bin_round_trip(http: ManagementClient, raw: httpx.Client) -> None:
    api = ContentApi(http)
    repo = unique_repository()
    api.update_registry(soft_delete_enabled=True, soft_delete_days=7)
    try:
        image = push_image(raw, repo, "v1")
        push(raw, repo, image, "v2")
        assert_status(raw.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)

        deleted = api.list_deleted_manifests(repo)
        assert isinstance(deleted, DeletedManifests)
        assert [(m.digest, sorted(m.tags)) for m in deleted.manifests] == [
            (image.digest, ["v1", "v2"])
        ]
        assert deleted.manifests[0].expires_at > deleted.manifests[0].deleted_at
        tags = api.list_deleted_tags(repo, "v2")
        assert isinstance(tags, DeletedTags)
        assert [(t.tag, t.digest) for t in tags.tags] == [("v2", image.digest)]

        restored = api.restore(repo, None, "v2", force=False)
        assert isinstance(restored, Restored)
        assert (restored.digest, restored.manifest_restored, restored.tags) == (
            image.digest,
            True,
            ["v2"],
        )
        with pytest.raises(CliError, match="404 MANIFEST_UNKNOWN"):
            api.restore(repo, None, "never-was", force=False)
    finally:
        api.update_registry(soft_delete_enabled=False)


def test_purge_plans_then_purges(http: ManagementClient, raw: httpx.Client) -> None:
    api = ContentApi(http)
    repo = unique_repository()
    push_image(raw, repo, "old1")
    push_image(raw, repo, "old2")
    filters = [f"{repo}:^old"]

    plan = api.purge(filters, "0m", keep=1, untagged=True, include_locked=False, dry_run=True)
    assert isinstance(plan, PurgeResult)
    assert plan.dry_run is True
    assert plan.repositories == [repo]
    assert [t.tag for t in plan.tags] == ["old1"]  # the newest one is kept
    assert [t.tag for t in api.list_deleted_tags(repo).tags] == []

    done = api.purge(filters, "0m", keep=1, untagged=True, include_locked=False, dry_run=False)
    assert [(t.repository, t.tag) for t in done.tags] == [(repo, "old1")]
    assert len(done.manifests) == 1
    with pytest.raises(CliError, match="UNSUPPORTED"):
        api.purge(["["], "1d", keep=0, untagged=False, include_locked=False, dry_run=True)


def test_quarantine_round_trip(http: ManagementClient, raw: httpx.Client) -> None:
    api = ContentApi(http)
    repo = unique_repository()
    api.update_registry(quarantine_enabled=True)
    try:
        image = push_image(raw, repo, "v1")
        held = api.list_quarantine(repo)
        assert held.model is QuarantinedManifest
        assert [(m.digest, m.state, m.tags) for m in held] == [
            (image.digest, "quarantined", ["v1"])
        ]
        passed = api.set_quarantine_state(repo, image.digest, "passed")
        assert passed.state == "passed"
        assert [m.digest for m in api.list_quarantine(repo, "passed")] == [image.digest]
        assert api.list_quarantine(repo, "quarantined") == []
    finally:
        api.update_registry(quarantine_enabled=False)


def test_import_events_are_the_servers_lines(
    http: ManagementClient, raw: httpx.Client, registry: ServerProcess
) -> None:
    """The typed import reads every line of a real import's stream; the raw stream, read into
    the models and written out again, is the stream the server sent."""
    repo = unique_repository()
    amd64 = push_image(raw, repo, "amd64")
    index = push(raw, repo, index_manifest([amd64, push_image(raw, repo)]), "v1")
    api = ContentApi(http)

    events = list(api.import_image(f"{registry.host}/{repo}:v1", [f"{repo}-copy:v1"], force=False))
    assert isinstance(events[0], ImportStarted)
    assert {type(event) for event in events} >= {ImportPlan, ImportManifest, ImportBlob}
    result = events[-1]
    assert isinstance(result, ImportResult)
    assert (result.digest, result.tags, result.manifests) == (index.digest, [f"{repo}-copy:v1"], 3)
    assert result.blobs.present > 0  # the layers are in this registry already

    body = {"source": f"{registry.host}/{repo}:v1", "images": [f"{repo}-again:v1"]}
    with raw.stream("POST", "/api/v1/imports", json=body, timeout=120) as resp:
        lines = [json.loads(line) for line in resp.iter_lines() if line.strip()]
    lines_of: TypeAdapter[ImportEvent] = TypeAdapter(ImportEvent)
    for line in lines:
        assert shape_json(lines_of.validate_python(line)) == line

    # A refusal before the copy is an error answer; a failure during it, the stream's last
    # line, which the client reads as a failure.
    again = api.import_image(f"{registry.host}/{repo}:v1", [f"{repo}-copy:v1"], force=False)
    with pytest.raises(CliError, match="CONFLICT"):
        list(again)
    failure = lines_of.validate_python(
        {"event": "error", "errors": [{"code": "CONFLICT", "message": "m", "detail": None}]}
    )
    assert isinstance(failure, ImportFailed)


# --- the drift test sees the content models ---------------------------------------------------


def test_the_drift_test_holds_the_content_models(server: ServerProcess) -> None:
    """test_cli_api_client.py's drift test covers every `WireModel` of `dockyard.wire`: the
    content bodies are among them, and each matches its schema in the OpenAPI document."""
    content = {
        "DeletedManifests",
        "DeletedTags",
        "RestoreRequest",
        "Restored",
        "PurgeRequest",
        "PurgeResult",
        "QuarantinedManifest",
        "Verdict",
        "ImportRequest",
    }
    models = {model.__name__: model for model in wire_models()}
    assert content <= set(models)
    schemas = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=60).json()["components"][
        "schemas"
    ]
    assert [problem for name in sorted(content) if (problem := drift(models[name], schemas))] == []
    # ACR's shapes and the stream's lines are held to real answers above, not to the document.
    assert not {"TagList", "ImportResult"} & set(models)
