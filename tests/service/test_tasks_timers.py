"""Cron timers of saved tasks (tasks/timers.py) and their firing, in-process."""

from __future__ import annotations

import time

import pytest

from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.spec.codes import ErrorCode
from dockyard.storage.db.database import Database
from dockyard.tasks.policy import TaskPolicy
from dockyard.tasks.runs import RunStore
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.task_model import TaskSpec

CMD = TaskSpec(cmd="alpine echo hi", timeout=600)
OWNER = "user:alice"
HOUR = 3600.0


@pytest.fixture
def saved(database: Database) -> SavedTasks:
    return SavedTasks(database, TaskPolicy(min_timeout_seconds=300))


def test_timers_are_added_changed_and_removed(saved: SavedTasks) -> None:
    saved.definitions.create("timed-task", CMD, OWNER, {"nightly": "0  3 * * *"})
    nightly = saved.timers.get("timed-task", "nightly")
    assert nightly.schedule == "0 3 * * *"  # normalized
    assert nightly.enabled
    assert nightly.next_due > time.time()
    quarter = saved.timers.add("timed-task", "q", "*/15 * * * *")
    upcoming = quarter.upcoming()
    assert len(upcoming) == 3
    assert upcoming[1] - upcoming[0] == 15 * 60
    paused = saved.timers.update("timed-task", "q", enabled=False)
    assert not paused.enabled
    assert paused.upcoming() == []
    assert [t.name for t in saved.timers.of("timed-task")] == ["nightly", "q"]
    saved.timers.remove("timed-task", "q")
    assert [t.name for t in saved.timers.of()] == ["nightly"]


def test_timer_errors_are_typed(saved: SavedTasks) -> None:
    saved.definitions.create("timed-task", CMD, OWNER, {"nightly": "0 3 * * *"})
    with pytest.raises(Conflict, match="already has a timer nightly"):
        saved.timers.add("timed-task", "nightly", "* * * * *")
    for call in (
        lambda: saved.timers.get("timed-task", "nope"),
        lambda: saved.timers.update("timed-task", "nope", enabled=True),
        lambda: saved.timers.remove("timed-task", "nope"),
    ):
        with pytest.raises(NotFound, match="has no timer nope") as missing:
            call()
        assert missing.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(NotFound, match="task nope-task not found"):
        saved.timers.add("nope-task", "t1", "* * * * *")
    with pytest.raises(NotFound, match="task nope-task not found"):
        saved.timers.of("nope-task")
    with pytest.raises(Invalid, match="5-field cron"):
        saved.timers.add("timed-task", "t2", "* * *")
    with pytest.raises(Invalid, match="timer name"):
        saved.timers.add("timed-task", "no spaces", "* * * * *")


def test_a_timer_missed_many_times_fires_once(saved: SavedTasks, database: Database) -> None:
    saved.definitions.create("timed-task", CMD, OWNER, {"every": "* * * * *"})
    later = time.time() + 5 * HOUR  # 300 slots passed
    assert [t.name for t in saved.timers.due(later)] == ["every"]
    fired = saved.timers.fire_due(later)
    assert [(f.timer.name, f.run_id is not None) for f in fired] == [("every", True)]
    _, run_id = fired[0]  # unpacks as the worker reads it
    assert run_id is not None
    run = RunStore(database).get(run_id)
    assert (run.trigger, run.trigger_detail, run.requester) == ("timer", "every", OWNER)
    after = saved.timers.get("timed-task", "every")
    assert after.next_due > later
    assert after.last_run_id == run_id
    assert saved.timers.fire_due(later) == []  # nothing due until the next slot


def test_a_disabled_task_fires_nothing_and_enabling_skips_missed_slots(
    saved: SavedTasks,
) -> None:
    saved.definitions.create("timed-task", CMD, OWNER, {"every": "* * * * *"})
    saved.definitions.update("timed-task", {"status": "Disabled"})
    assert saved.timers.due(time.time() + HOUR) == []
    saved.definitions.update("timed-task", {"status": "Enabled"})
    assert saved.timers.get("timed-task", "every").next_due > time.time()


def test_a_task_that_cannot_make_a_run_records_why(saved: SavedTasks, database: Database) -> None:
    saved.definitions.create("timed-task", CMD, OWNER, {"every": "* * * * *"})
    # A policy tightened since the task was saved: its runs no longer pass.
    strict = SavedTasks(database, TaskPolicy(min_timeout_seconds=900))
    fired = strict.timers.fire_due(time.time() + HOUR)
    assert [(f.timer.name, f.run_id) for f in fired] == [("every", None)]
    task = strict.definitions.get("timed-task")
    assert task.last_trigger_error is not None
    assert task.last_trigger_error.startswith("timer every: timeout must be between")
    # A trigger that starts a run clears it.
    saved.timers.fire_due(time.time() + 2 * HOUR)
    assert saved.definitions.get("timed-task").last_trigger_error is None
