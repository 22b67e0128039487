"""The commit trigger (tasks/commit_trigger.py): one run per commit, and its webhook secret.

The context is a git URL on a loopback address that the address policy refuses, so taking
the baseline fails at once (logged) and the first commit seen is the one that counts."""

from __future__ import annotations

import pytest

from dockyard.errors import NotFound
from dockyard.spec.codes import ErrorCode
from dockyard.storage.db.database import Database
from dockyard.tasks.model import Trigger
from dockyard.tasks.policy import TaskPolicy
from dockyard.tasks.runs import RunStore
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.task_model import TaskSpec

REPO = "https://127.0.0.1:9/team/app.git"
GIT_TASK = TaskSpec(
    context=f"{REPO}#main",
    file="Dockerfile",
    images=["app:{{.Run.ID}}"],
    timeout=600,
    commit_trigger_enabled=True,
)
OWNER = "user:alice"
SHA = "a" * 40


@pytest.fixture
def saved(database: Database) -> SavedTasks:
    saved = SavedTasks(database, TaskPolicy(min_timeout_seconds=300))
    saved.definitions.create("git-task", GIT_TASK, OWNER)
    return saved


def test_a_commit_seen_twice_makes_one_run(saved: SavedTasks, database: Database) -> None:
    assert saved.definitions.get("git-task").last_commit is None  # no baseline readable
    outcome = saved.commits.seen(
        "git-task", SHA, "main", repositories=["http://127.0.0.1:9/Team/App"]
    )
    assert outcome.run_id is not None, outcome.reason
    run = RunStore(database).get(outcome.run_id)
    assert run.trigger is Trigger.COMMIT
    assert run.trigger_detail == SHA
    assert (run.request.commit, run.request.branch) == (SHA, "main")
    assert run.requester == OWNER
    again = saved.commits.seen("git-task", SHA, "main")
    assert again.run_id is None
    assert again.reason is not None
    assert "already built or queued" in again.reason
    assert saved.definitions.get("git-task").last_commit == SHA


@pytest.mark.parametrize(
    ("branch", "repositories", "reason"),
    [
        ("dev", (), "the push is to branch dev; task git-task builds main"),
        ("main", ("https://127.0.0.1:9/team/other.git",), "not to"),
    ],
)
def test_a_commit_the_task_does_not_build_is_skipped(
    saved: SavedTasks, branch: str, repositories: tuple[str, ...], reason: str
) -> None:
    outcome = saved.commits.seen("git-task", SHA, branch, repositories=repositories)
    assert outcome.run_id is None
    assert outcome.reason is not None
    assert reason in outcome.reason


def test_a_disabled_task_or_trigger_makes_no_run(saved: SavedTasks) -> None:
    saved.definitions.update("git-task", {"status": "Disabled"})
    assert saved.commits.seen("git-task", SHA, "main").reason == "task git-task is disabled"
    saved.definitions.update("git-task", {"status": "Enabled", "commit_trigger_enabled": False})
    assert saved.commits.watched() == []
    outcome = saved.commits.seen("git-task", SHA, "main")
    assert outcome.reason == "the commit trigger of task git-task is disabled"


def test_the_first_head_the_poller_sees_is_the_baseline(saved: SavedTasks) -> None:
    assert [task.name for task in saved.commits.watched()] == ["git-task"]
    polled = saved.commits.seen("git-task", SHA, "main", polled_context=GIT_TASK.context)
    assert polled.run_id is None
    assert polled.reason == f"commit {SHA} is the baseline of task git-task"
    newer = saved.commits.seen("git-task", "b" * 40, "main", polled_context=GIT_TASK.context)
    assert newer.run_id is not None


def test_the_webhook_secret_is_made_with_the_trigger_and_renewed(saved: SavedTasks) -> None:
    secret = saved.commits.webhook_secret("git-task")
    assert len(secret) >= 32
    renewed = saved.commits.renew_webhook_secret("git-task")
    assert renewed != secret
    assert saved.commits.webhook_secret("git-task") == renewed
    saved.definitions.create("plain-task", TaskSpec(cmd="alpine", timeout=600), OWNER)
    with pytest.raises(NotFound, match="no webhook secret yet") as none:
        saved.commits.webhook_secret("plain-task")
    assert none.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(NotFound, match="task nope-task not found"):
        saved.commits.renew_webhook_secret("nope-task")
