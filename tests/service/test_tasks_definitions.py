"""Saved task definitions (tasks/definitions.py) and the runs a task queues, in-process."""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.spec.codes import ErrorCode
from dockyard.storage.db.database import Database
from dockyard.tasks.model import RunKind, RunStatus, Trigger
from dockyard.tasks.policy import TaskPolicy
from dockyard.tasks.runs import RunStore
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.task_model import (
    BaseImageTriggerType,
    RunOverrides,
    TaskSpec,
    TaskStatus,
)

CMD = TaskSpec(cmd="alpine echo {{.Values.word}}", values={"word": "hi"}, timeout=600)
OWNER = "user:alice"


@pytest.fixture
def saved(database: Database) -> SavedTasks:
    return SavedTasks(database, TaskPolicy(default_engine="buildah", min_timeout_seconds=300))


def test_a_task_is_saved_typed_and_read_back(saved: SavedTasks) -> None:
    created = saved.definitions.create("hello-task", CMD, OWNER)
    assert created.spec.status is TaskStatus.ENABLED
    assert created.spec.base_image_trigger_type is BaseImageTriggerType.RUNTIME
    assert created.spec.engine == "buildah"  # chosen when saved
    assert created.owner == OWNER
    assert saved.definitions.get("hello-task") == created
    assert [task.name for task in saved.definitions.all()] == ["hello-task"]


def test_a_taken_name_is_a_conflict_and_an_unknown_one_not_found(saved: SavedTasks) -> None:
    saved.definitions.create("hello-task", CMD, OWNER)
    with pytest.raises(Conflict, match="already exists") as taken:
        saved.definitions.create("hello-task", CMD, OWNER)
    assert taken.value.code is ErrorCode.CONFLICT
    for call in (
        lambda: saved.definitions.get("nope-task"),
        lambda: saved.definitions.update("nope-task", {"timeout": 900}),
        lambda: saved.definitions.delete("nope-task"),
        lambda: saved.definitions.run("nope-task", OWNER),
    ):
        with pytest.raises(NotFound, match="task nope-task not found") as missing:
            call()
        assert missing.value.code is ErrorCode.NOT_FOUND


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("bad", CMD, "task name"),
        ("good-name", TaskSpec(timeout=600), "exactly one of file"),
        ("good-name", TaskSpec(cmd="alpine", timeout=10), "timeout must be between"),
        ("good-name", TaskSpec(cmd="alpine", timeout=600, status="Sleeping"), "status"),  # type: ignore[arg-type]
        ("good-name", TaskSpec(file="Dockerfile", timeout=600), "needs a context"),
        ("good-name", TaskSpec(cmd="alpine {{.Values.x}}", timeout=600), "names no value"),
    ],
)
def test_an_invalid_definition_is_refused(
    saved: SavedTasks, name: str, spec: TaskSpec, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        saved.definitions.create(name, spec, OWNER)
    assert saved.definitions.all() == []


def test_an_update_merges_values_and_keeps_what_it_does_not_name(saved: SavedTasks) -> None:
    saved.definitions.create(
        "hello-task", TaskSpec(**{**_fields(CMD), "secret_values": {"key": "s"}}), OWNER
    )
    updated = saved.definitions.update(
        "hello-task",
        {"values": {"other": "x"}, "secret_values": {"key": None}, "status": "Disabled"},
    )
    assert updated.spec.values == {"word": "hi", "other": "x"}
    assert updated.spec.secret_values == {}
    assert updated.spec.status is TaskStatus.DISABLED
    with pytest.raises(Invalid, match="unknown task fields"):
        saved.definitions.update("hello-task", {"colour": "blue"})
    with pytest.raises(Invalid):
        saved.definitions.update("hello-task", {"timeout": 5})
    assert saved.definitions.get("hello-task") == updated


def test_a_manual_run_is_queued_from_the_task_as_saved(
    saved: SavedTasks, database: Database
) -> None:
    saved.definitions.create("hello-task", CMD, OWNER)
    run = saved.definitions.run("hello-task", "user:bob", RunOverrides(values={"word": "yo"}))
    assert run.status is RunStatus.QUEUED
    assert run.kind is RunKind.CMD
    assert run.trigger is Trigger.MANUAL
    assert run.task_name == "hello-task"
    assert run.requester == "user:bob"
    assert run.request.cmd == "alpine echo yo"
    assert run.timeout == 600
    assert RunStore(database).recent(task_name="hello-task") == [run]


def test_a_deleted_task_takes_its_timers_and_credentials(saved: SavedTasks) -> None:
    saved.definitions.create("hello-task", CMD, OWNER, {"nightly": "0 3 * * *"})
    saved.secrets.add_credential("hello-task", "Other.example.com", "bob", "pw")
    saved.definitions.delete("hello-task")
    saved.definitions.create("hello-task", CMD, OWNER)
    assert saved.timers.of("hello-task") == []
    assert saved.secrets.credentials("hello-task") == []


def _fields(spec: TaskSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in TaskSpec.__dataclass_fields__}
