"""The tasks' periodic jobs: timers, base-image triggers (pushes here, polls of other
registries), commit polls, the sweep of runs whose worker was lost, and the removal of
unused build contexts. (Claiming and doing runs is the task worker's, `jobs/task_worker.py`.)"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.periodic import Job, Lease
from dockyard.tasks.base_triggers import BaseImageTriggers
from dockyard.tasks.commit_polls import CommitPolls
from dockyard.tasks.git import LS_REMOTE_TIMEOUT_SECONDS
from dockyard.tasks.logs import LogStore
from dockyard.tasks.runs import RunStore
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.sources import SourceStore

log = logging.getLogger("dockyard.jobs")

TIMERS = "timers"
BASE_IMAGE_TRIGGERS = "base-image-triggers"
BASE_IMAGE_POLL = "base-image-poll"
COMMIT_POLL = "commit-poll"
RUN_SWEEP = "run-sweep"
SOURCE_CLEANUP = "source-cleanup"

TIMER_LEASE_SECONDS = 30.0
EVENTS_LEASE_SECONDS = 30.0
# How often what lost workers left on this machine, and unused build contexts, are swept.
SWEEP_SECONDS = 30.0
# Task polls spread over +-20%, as the workers' polls for runs do.
POLL_JITTER = 0.2


@dataclass(frozen=True, slots=True)
class TaskJobSettings:
    poll_seconds: float
    commit_poll_seconds: float
    base_image_poll_seconds: float
    source_ttl_seconds: float
    sweep_sources: bool  # on where runs are done: uploaded contexts are theirs


def task_jobs(
    saved: SavedTasks,
    triggers: BaseImageTriggers,
    commits: CommitPolls,
    runs: RunStore,
    logs: LogStore,
    sweep_work_dir: Callable[[], object],
    sources: SourceStore,
    settings: TaskJobSettings,
) -> list[Job]:
    """`sweep_work_dir` removes what runs that are over left on this machine (the
    executor's sweep, serialized with the task worker's own after each run)."""

    def due_timers() -> bool:
        return bool(saved.due_timers(time.time()))  # a read: idle polls take no write lock

    def fire_timers() -> None:
        for timer, run_id in saved.fire_due(time.time()):
            log.info("timer %s of task %s fired: run %s", timer.name, timer.task, run_id)

    poll = settings.poll_seconds
    return [
        Job(
            TIMERS,
            poll,
            fire_timers,
            Lease("task-timers", TIMER_LEASE_SECONDS),
            description="task timers: queue a run for each due timer",
            pending=due_timers,
            jitter=POLL_JITTER,
            run_at_start=True,
        ),
        Job(
            BASE_IMAGE_TRIGGERS,
            poll,
            triggers.consume,
            Lease("task-base-image-triggers", EVENTS_LEASE_SECONDS),
            description="base-image triggers: runs of tasks built on images pushed here",
            pending=triggers.pending,
            jitter=POLL_JITTER,
            run_at_start=True,
        ),
        Job(
            BASE_IMAGE_POLL,
            poll,  # checked at every poll; run when the last run by any process is old
            triggers.poll_external,
            Lease("task-base-image-poll", settings.base_image_poll_seconds, per_interval=True),
            description="base-image triggers: base images in other registries checked again",
            jitter=POLL_JITTER,
            run_at_start=True,
        ),
        Job(
            COMMIT_POLL,
            settings.commit_poll_seconds,
            commits.poll,
            # Held past one interval plus one slow remote, renewed before each remote is read.
            Lease("task-commits", settings.commit_poll_seconds + 2 * LS_REMOTE_TIMEOUT_SECONDS),
            description="commit trigger: git remotes of tasks read for new commits",
            stepped=True,
            jitter=0.0,
        ),
        Job(
            RUN_SWEEP,
            poll,
            RunSweep(runs, logs, sweep_work_dir).run_once,
            description="runs whose worker was lost end Error; what they left here is removed",
            jitter=POLL_JITTER,
            run_at_start=True,
        ),
        Job(
            SOURCE_CLEANUP,
            SWEEP_SECONDS,
            lambda: sources.sweep(settings.source_ttl_seconds),
            enabled=settings.sweep_sources,
            description="uploaded build contexts no run used for task_source_ttl_seconds",
            jitter=POLL_JITTER,
            run_at_start=True,
        ),
    ]


class RunSweep:
    """Ends the runs whose worker stopped renewing the lease (in every process: the update is
    conditional), and removes what a lost worker on this machine left (processes, files)
    once its run ended: at once after ending runs, else every SWEEP_SECONDS."""

    def __init__(
        self, runs: RunStore, logs: LogStore, sweep_work_dir: Callable[[], object]
    ) -> None:
        self._runs = runs
        self._logs = logs
        self._sweep_work_dir = sweep_work_dir
        self._last_sweep = 0.0

    def run_once(self) -> int:
        reaped = self._runs.reap()
        for run_id in reaped:
            log.warning("run %s ended: its worker stopped renewing the lease", run_id)
            self._logs.append(run_id, "\nThe worker doing this run was lost; the run ended.\n")
        if reaped or not self._last_sweep or time.monotonic() - self._last_sweep > SWEEP_SECONDS:
            self._last_sweep = time.monotonic()
            self._sweep_work_dir()
        return len(reaped)
