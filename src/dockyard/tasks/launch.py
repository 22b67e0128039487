"""How a saved task queues a run: its request made from the task as saved, checked against
the policy, and inserted in the caller's write transaction (the one that read the task), so
that a run always matches the task it was queued from. Triggers (timers, commits, base
images) run as the task's owner and record why they could not start a run on the task."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Connection

from dockyard.errors import DockyardError
from dockyard.tasks.model import RunRequest, Trigger
from dockyard.tasks.policy import TaskPolicy, check_request
from dockyard.tasks.runs import insert_run
from dockyard.tasks.task_model import RunOverrides, SavedTask
from dockyard.tasks.task_rows import read_task, trigger_failed, trigger_started
from dockyard.tasks.task_spec import run_request, with_git_revision

log = logging.getLogger("dockyard.tasks")


class TaskLauncher:
    def __init__(self, policy: TaskPolicy) -> None:
        self.policy = policy

    def prepare(
        self,
        task: SavedTask,
        overrides: RunOverrides,
        commit: str | None = None,
        branch: str | None = None,
    ) -> tuple[RunRequest, int]:
        """The run's request and timeout; refused (Invalid) when the task cannot make one. A
        git context's run names its branch, and the commit a commit trigger saw."""
        request = run_request(task.spec, overrides)
        request = with_git_revision(request, commit, branch)
        check_request(request)
        timeout = overrides.timeout or task.spec.timeout
        self.policy.check_timeout(timeout)
        return request, timeout

    def queue(
        self,
        conn: Connection,
        task: SavedTask,
        request: RunRequest,
        timeout: int,
        requester: str,
        trigger: Trigger,
        trigger_detail: str | None = None,
    ) -> str:
        """Insert the prepared run of the task; answers its id."""
        engine = task.spec.engine or self.policy.default_engine
        return insert_run(
            conn, request, requester, engine, timeout, trigger, task.name, trigger_detail
        )

    def queue_manual(
        self, conn: Connection, task: SavedTask, requester: str, overrides: RunOverrides
    ) -> str:
        request, timeout = self.prepare(task, overrides)
        return self.queue(conn, task, request, timeout, requester, Trigger.MANUAL)

    def queue_triggered(
        self,
        conn: Connection,
        name: str,
        trigger: Trigger,
        trigger_detail: str,
        chain: Sequence[str] = (),
    ) -> str | None:
        """Queue a run of an enabled task as its owner, in the trigger's write transaction,
        with the trigger chain that led to it; None when the task is gone, disabled or
        cannot make a run (logged, and recorded on the task)."""
        task = read_task(conn, name, lock=True)
        if task is None or not task.spec.enabled:
            return None
        return self.queue_for_owner(conn, task, trigger, trigger_detail, chain)

    def queue_for_owner(
        self,
        conn: Connection,
        task: SavedTask,
        trigger: Trigger,
        trigger_detail: str,
        chain: Sequence[str] = (),
        label: str | None = None,
    ) -> str | None:
        """A triggered run of a task the caller has locked; None (recorded on the task under
        `label`) when the task cannot make a run."""
        try:
            request, timeout = self.prepare(task, RunOverrides())
        except DockyardError as exc:
            where = label or f"{trigger} trigger ({trigger_detail})"
            log.warning("%s of task %s: no run: %s", where, task.name, exc.message)
            trigger_failed(conn, task.name, f"{where}: {exc.message}")
            return None
        if chain:
            request = replace(request, trigger_chain=list(chain))
        trigger_started(conn, task)
        return self.queue(conn, task, request, timeout, task.owner, trigger, trigger_detail)
