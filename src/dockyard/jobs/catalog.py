"""Choosing among the jobs of a Dockyard process (compose.build_jobs gathers them from the
packages that declare them): what `serve` runs in-process (the enabled ones) and what
`dockyard worker --jobs ...` picks; and the task worker's own job, `runs`."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.jobs.task_worker import TaskWorker
from dockyard.periodic import Job
from dockyard.tasks.jobs import POLL_JITTER

RUNS = "runs"
# Runs done in a row before the worker waits a poll: none while the queue has runs.
RUNS_IN_A_ROW = 100


class UnknownJobs(ValueError):
    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(f"no job named {', '.join(unknown)}; the jobs are: {', '.join(known)}")
        self.unknown = tuple(unknown)


def runs_job(worker: TaskWorker) -> Job:
    """The task worker's claim of queued runs, enabled when it has engines."""
    return Job(
        RUNS,
        worker.settings.poll_seconds,
        worker.poll_once,
        enabled=bool(worker.settings.engines),
        description="task runs: claim queued runs and do them (quick builds, task files)",
        drain=RUNS_IN_A_ROW,
        jitter=POLL_JITTER,
        run_at_start=True,
        stop=worker.stop,
    )


def select_jobs(jobs: Sequence[Job], names: Sequence[str] | None) -> list[Job]:
    """The jobs named (each run even when the settings leave it off in `serve`), or, without
    names, the enabled ones. Raises UnknownJobs for a name no job has."""
    if names is None:
        return [job for job in jobs if job.enabled]
    known = [job.name for job in jobs]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownJobs(unknown, known)
    wanted = set(names)
    return [job for job in jobs if job.name in wanted]
