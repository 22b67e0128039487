"""Saved tasks: stored definitions of a build or a command, run by hand or by their triggers.

One object per process holds the services, one concept each:

- `definitions` (tasks/definitions.py): save, read, change, delete, run by hand;
- `timers` (tasks/timers.py): named cron timers and their firing;
- `commits` (tasks/commit_trigger.py): the commit trigger and its push webhook's secret;
- `secrets` (tasks/task_secrets.py): logins to other registries, secret values, git token;
- `launcher` (tasks/launch.py): how a task queues a run, shared by all of them.

The typed values they answer are in tasks/task_model.py. The few methods below are the
entry points of the background jobs (timers, commit poller, base-image triggers).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from dockyard.storage.db.database import Database
from dockyard.tasks.commit_trigger import CommitTrigger
from dockyard.tasks.definitions import TaskDefinitions
from dockyard.tasks.launch import TaskLauncher
from dockyard.tasks.model import Trigger
from dockyard.tasks.policy import TaskPolicy
from dockyard.tasks.runs import RunStore
from dockyard.tasks.task_model import CommitOutcome, Fired, SavedTask, TaskStatus, Timer
from dockyard.tasks.task_secrets import TaskSecrets
from dockyard.tasks.timers import TaskTimers

__all__ = ["ENABLED", "CommitOutcome", "SavedTask", "SavedTasks"]

ENABLED = TaskStatus.ENABLED  # the status base-image triggers select


class SavedTasks:
    def __init__(self, db: Database, policy: TaskPolicy | None = None) -> None:
        self.launcher = TaskLauncher(policy or TaskPolicy())
        self.commits = CommitTrigger(db, self.launcher)
        self.definitions = TaskDefinitions(db, self.launcher, self.commits, RunStore(db))
        self.timers = TaskTimers(db, self.launcher)
        self.secrets = TaskSecrets(db)

    # --- what the background jobs call -----------------------------------------------------

    def due_timers(self, now: float) -> list[Timer]:
        return self.timers.due(now)

    def fire_due(self, now: float | None = None) -> list[Fired]:
        return self.timers.fire_due(now)

    def commit_watched(self) -> list[SavedTask]:
        return self.commits.watched()

    def commit_seen(
        self,
        name: str,
        commit: str,
        branch: str,
        *,
        polled_context: str | None = None,
        default_branch: str | None = None,
        repositories: Sequence[str] = (),
    ) -> CommitOutcome:
        return self.commits.seen(
            name,
            commit,
            branch,
            polled_context=polled_context,
            default_branch=default_branch,
            repositories=repositories,
        )

    def queue_triggered(
        self,
        conn: Connection,
        name: str,
        trigger: str,
        trigger_detail: str,
        chain: Sequence[str] = (),
    ) -> str | None:
        return self.launcher.queue_triggered(conn, name, Trigger(trigger), trigger_detail, chain)
