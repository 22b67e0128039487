"""Tasks reach this registry's images through the LocalImages port (tasks/images.py), which
the registry implements (registry/local_images.py): never through the registry's tables."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from sqlalchemy import insert

from dockyard.errors import Conflict, NotFound
from dockyard.registry.local_images import RegistryImages
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import repositories, tags
from dockyard.tasks.base_images import BaseImageDigests
from dockyard.tasks.images import LocalImages
from dockyard.tasks.model import RunRequest, RunStatus
from dockyard.tasks.runs import RunStore

TASKS = Path(__file__).parents[2] / "src" / "dockyard" / "tasks"
DIGEST = "sha256:" + "ab" * 32


def _tag(database: Database, repository: str, tag: str, digest: str) -> None:
    now = time.time()
    with database.write() as conn:
        repo_id = conn.execute(
            insert(repositories)
            .values(name=repository, created_at=now)
            .returning(repositories.c.id)
        ).scalar_one()
        conn.execute(
            insert(tags).values(
                repository_id=repo_id, name=tag, manifest_digest=digest, updated_at=now
            )
        )


def test_the_registry_answers_a_tags_digest(database: Database) -> None:
    _tag(database, "base/alpine", "3", DIGEST)
    images: LocalImages = RegistryImages(database)
    assert images.tag_digest("base/alpine", "3") == DIGEST
    assert images.tag_digest("base/alpine", "4") is None
    assert images.tag_digest("base/other", "3") is None


def test_base_image_digests_ask_the_port(database: Database) -> None:
    class Tags:
        def tag_digest(self, repository: str, tag: str) -> str | None:
            return DIGEST if (repository, tag) == ("base/alpine", "3") else None

    digests = BaseImageDigests(database, Tags())
    found = digests.locate("base/alpine:3", "registry.test:5000", [], {})
    assert found is not None
    assert (found[0].reference, found[1]) == ("base/alpine:3", DIGEST)
    assert digests.locate("registry.test:5000/base/alpine:4", "registry.test:5000", [], {}) is None


def test_no_task_module_reads_a_registry_table() -> None:
    own = {"tasks", "task_runs", "task_run_logs", "task_sources", "task_counters"}
    own |= {"task_timers", "task_credentials"}
    read: dict[str, set[str]] = {}
    for path in TASKS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "dockyard.storage.db.schema":
                names = {alias.name for alias in node.names} - own
                if names:
                    read[str(path.relative_to(TASKS))] = names
    assert read == {}, f"tasks read registry tables; use the LocalImages port: {read}"


def test_unknown_and_finished_runs_are_typed_errors(database: Database) -> None:
    runs = RunStore(database)
    with pytest.raises(NotFound, match="run ca999 not found"):
        runs.get("ca999")
    with pytest.raises(NotFound):
        runs.request_cancel("ca999")
    run = runs.create(RunRequest(kind="cmd", cmd="alpine true"), "user:alice", "buildah", 600)
    assert run.status is RunStatus.QUEUED
    canceled = runs.request_cancel(run.run_id)
    assert canceled.status is RunStatus.CANCELED
    with pytest.raises(Conflict, match="has finished"):
        runs.request_cancel(run.run_id)
    assert runs.recent(status=RunStatus.CANCELED) == [canceled]
