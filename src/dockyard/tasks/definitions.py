"""Saved task definitions (`tasks` rows): save, read, change, delete, and run one by hand.

A task is a Dockerfile build (`file` plus a git or tarball context URL) or a command (`cmd`),
with its images, values, secret values, timeout, engine (chosen when saved), status and
trigger settings. Running a task queues the run in the same transaction that reads it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select, update

from dockyard.errors import Conflict, Invalid
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import task_credentials, task_timers, tasks
from dockyard.tasks.commit_trigger import CommitTrigger, watches_otherwise, with_webhook_secret
from dockyard.tasks.cron import check_schedule
from dockyard.tasks.launch import TaskLauncher
from dockyard.tasks.model import Run
from dockyard.tasks.runs import RunStore
from dockyard.tasks.task_model import RunOverrides, SavedTask, TaskSpec, TaskStatus
from dockyard.tasks.task_rows import existing_task, locked_task, task_from_row, task_row
from dockyard.tasks.task_spec import check_spec, check_task_name
from dockyard.tasks.timers import check_timer_name, reschedule, timer_row

# What a change may not set: who owns the task and when it was made.
_FIXED_COLUMNS = ("name", "owner", "created_at")


class TaskDefinitions:
    def __init__(
        self, db: Database, launcher: TaskLauncher, commits: CommitTrigger, runs: RunStore
    ) -> None:
        self._db = db
        self._launcher = launcher
        self._commits = commits
        self._runs = runs

    def create(
        self, name: str, spec: TaskSpec, owner: str, schedules: Mapping[str, str] | None = None
    ) -> SavedTask:
        """Save a task (Conflict when the name is taken), with its first timers."""
        check_task_name(name)
        checked = with_webhook_secret(check_spec(spec, self._launcher.policy))
        timers = {timer: check_schedule(cron) for timer, cron in (schedules or {}).items()}
        for timer in timers:
            check_timer_name(timer)
        now = time.time()
        with self._db.write() as conn:
            if not insert_ignore(conn, tasks, task_row(name, checked, owner, now)):
                raise Conflict(f"task {name} already exists")
            for timer, cron in timers.items():
                conn.execute(task_timers.insert().values(timer_row(name, timer, cron, now)))
        if checked.commit_trigger_enabled:
            self._commits.take_baseline(name)
        return self.get(name)

    def get(self, name: str) -> SavedTask:
        with self._db.read() as conn:
            return existing_task(conn, name)

    def all(self) -> list[SavedTask]:
        with self._db.read() as conn:
            return [
                task_from_row(row) for row in conn.execute(select(tasks).order_by(tasks.c.name))
            ]

    def update(self, name: str, changes: Mapping[str, Any]) -> SavedTask:
        """Change some fields; `values` and `secret_values` are merged (None removes a key)."""
        with self._db.write() as conn:
            current = locked_task(conn, name)
            fields = dict(changes)
            for key in ("values", "secret_values"):
                if key in fields:
                    merged = {**getattr(current.spec, key), **fields[key]}
                    fields[key] = {k: v for k, v in merged.items() if v is not None}
            unknown = set(fields) - set(TaskSpec.__dataclass_fields__)
            if unknown:
                raise Invalid(f"unknown task fields: {', '.join(sorted(unknown))}")
            spec = with_webhook_secret(
                check_spec(replace(current.spec, **fields), self._launcher.policy)
            )
            now = time.time()
            values = task_row(name, spec, current.owner, now)
            for column in _FIXED_COLUMNS:
                del values[column]
            rebase = spec.commit_trigger_enabled and watches_otherwise(current.spec, spec)
            if rebase:
                values["last_commit"] = None  # the next head seen is the baseline
            conn.execute(update(tasks).where(tasks.c.name == name).values(**values))
            if current.spec.status == TaskStatus.DISABLED and spec.enabled:
                reschedule(conn, name, now)  # slots passed while disabled do not fire
        if rebase:
            self._commits.take_baseline(name)
        return self.get(name)

    def delete(self, name: str) -> None:
        """Delete a task with its timers and credentials (its runs stay)."""
        with self._db.write() as conn:
            locked_task(conn, name)  # before its timers, as firing locks them
            conn.execute(delete(task_timers).where(task_timers.c.task == name))
            conn.execute(delete(task_credentials).where(task_credentials.c.task == name))
            conn.execute(delete(tasks).where(tasks.c.name == name))

    def run(self, name: str, requester: str, overrides: RunOverrides | None = None) -> Run:
        """Queue a manual run of the task, as it is saved in the same transaction."""
        with self._db.write() as conn:
            task = locked_task(conn, name)
            run_id = self._launcher.queue_manual(conn, task, requester, overrides or RunOverrides())
        return self._runs.get(run_id)
