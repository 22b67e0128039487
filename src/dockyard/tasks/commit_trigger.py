"""The commit trigger: a task with a git context runs when its branch gets a new commit.

`tasks.last_commit` holds the head last seen. Switching the trigger on (or changing the
context or token) clears it and reads the head after the change commits, so saving a task
builds nothing. The push webhook and the poller both go through `seen`, which queues one run
of a commit and records it in the same transaction: a webhook and a poll that see one commit
make one run. The push webhook counts a delivery only with the task's webhook secret."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from secrets import token_urlsafe

from sqlalchemy import select, update

from dockyard.errors import DockyardError, NotFound
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import task_runs, tasks
from dockyard.tasks.fetch import branch_head
from dockyard.tasks.launch import TaskLauncher
from dockyard.tasks.model import Trigger
from dockyard.tasks.task_model import CommitOutcome, RunOverrides, SavedTask, TaskSpec, TaskStatus
from dockyard.tasks.task_rows import (
    existing_task,
    locked_task,
    task_from_row,
    trigger_failed,
    trigger_started,
)
from dockyard.tasks.task_spec import git_context, same_repository

log = logging.getLogger("dockyard.tasks")

WEBHOOK_SECRET_BYTES = 32


def with_webhook_secret(spec: TaskSpec) -> TaskSpec:
    """A task with the commit trigger on has a push webhook secret (made when none is set)."""
    if spec.commit_trigger_enabled and not spec.webhook_secret:
        return replace(spec, webhook_secret=token_urlsafe(WEBHOOK_SECRET_BYTES))
    return spec


def watches_otherwise(before: TaskSpec, after: TaskSpec) -> bool:
    """Whether the commit trigger now watches another branch head than before."""
    return (
        not before.commit_trigger_enabled
        or before.context != after.context
        or before.git_access_token != after.git_access_token
    )


class CommitTrigger:
    def __init__(self, db: Database, launcher: TaskLauncher) -> None:
        self._db = db
        self._launcher = launcher

    def take_baseline(self, name: str) -> str | None:
        """Record the head of the task's branch as the commit already seen, so that switching
        the trigger on builds nothing at once. When the remote cannot be read now, the poller
        records the head it first sees instead. Answers the head, or None."""
        with self._db.read() as conn:
            task = existing_task(conn, name)
        try:
            head = branch_head(
                task.spec.context,
                task.spec.git_access_token,
                self._launcher.policy.allow_private_sources,
            )
        except DockyardError as exc:
            log.warning("task %s: no commit baseline yet: %s", name, exc.message)
            return None
        with self._db.write() as conn:
            conn.execute(
                update(tasks)
                .where(
                    tasks.c.name == name,
                    tasks.c.context == task.spec.context,
                    tasks.c.last_commit.is_(None),
                )
                .values(last_commit=head.commit)
            )
        return head.commit

    def watched(self) -> list[SavedTask]:
        """Enabled tasks with the commit trigger on (the poller reads their remotes)."""
        query = select(tasks).where(
            tasks.c.status == TaskStatus.ENABLED.value, tasks.c.commit_trigger_enabled.is_(True)
        )
        with self._db.read() as conn:
            return [task_from_row(row) for row in conn.execute(query.order_by(tasks.c.name))]

    def seen(
        self,
        name: str,
        commit: str,
        branch: str,
        *,
        polled_context: str | None = None,
        default_branch: str | None = None,
        repositories: Sequence[str] = (),
    ) -> CommitOutcome:
        """A commit at the head of `branch` of the task's repository, seen by the push webhook
        or (`polled_context`: the context it read) the poller. Queues one run of it (trigger
        `commit`), as the task's owner, unless the task does not build that branch or already
        built or queued that commit; the commit is recorded as seen in the same transaction, so
        a webhook and a poll seeing one commit make one run."""

        def skip(reason: str) -> CommitOutcome:
            return CommitOutcome(commit, branch, None, reason)

        with self._db.write() as conn:
            task = locked_task(conn, name)
            spec = task.spec
            if not spec.enabled:
                return skip(f"task {name} is disabled")
            if not spec.commit_trigger_enabled:
                return skip(f"the commit trigger of task {name} is disabled")
            if polled_context is not None and polled_context != spec.context:
                return skip(f"task {name} changed its context meanwhile")
            source = git_context(spec)
            if source is None:
                return skip(f"task {name} has no git context")
            if repositories and not any(same_repository(r, source.url) for r in repositories):
                return skip(f"the push is to {repositories[0]}, not to {source.url}")
            wanted = source.branch or default_branch
            if wanted is None:
                return skip(f"the context of task {name} names no branch")
            if branch != wanted:
                return skip(f"the push is to branch {branch}; task {name} builds {wanted}")
            seen = conn.execute(
                select(task_runs.c.run_id)
                .where(
                    task_runs.c.task_name == name,
                    task_runs.c.trigger == Trigger.COMMIT.value,
                    task_runs.c.trigger_detail == commit,
                )
                .limit(1)
            ).first()
            mark = update(tasks).where(tasks.c.name == name).values(last_commit=commit)
            if task.last_commit == commit or seen is not None:
                conn.execute(mark)
                return skip(f"commit {commit} was already built or queued for task {name}")
            if polled_context is not None and task.last_commit is None:
                conn.execute(mark)  # the first head the poller sees is the baseline
                return skip(f"commit {commit} is the baseline of task {name}")
            try:
                request, timeout = self._launcher.prepare(task, RunOverrides(), commit, branch)
            except DockyardError as exc:
                # Not marked as seen: the next delivery or poll of it tries again.
                log.warning("commit %s of task %s: no run: %s", commit, name, exc.message)
                trigger_failed(conn, name, f"commit {commit}: {exc.message}")
                return skip(f"task {name} cannot make a run: {exc.message}")
            run_id = self._launcher.queue(
                conn, task, request, timeout, task.owner, Trigger.COMMIT, commit
            )
            conn.execute(mark)
            trigger_started(conn, task)
        return CommitOutcome(commit, branch, run_id)

    def webhook_secret(self, name: str) -> str:
        """The secret of the task's push webhook; NotFound when the task has none yet."""
        with self._db.read() as conn:
            secret = existing_task(conn, name).spec.webhook_secret
        if not secret:
            raise NotFound(
                f"task {name} has no webhook secret yet: switch its commit trigger on, or POST "
                "to this path to make one"
            )
        return secret

    def renew_webhook_secret(self, name: str) -> str:
        """A new random secret for the task's push webhook; answers it."""
        secret = token_urlsafe(WEBHOOK_SECRET_BYTES)
        with self._db.write() as conn:
            locked_task(conn, name)
            conn.execute(update(tasks).where(tasks.c.name == name).values(webhook_secret=secret))
        return secret
