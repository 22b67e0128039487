"""Every job of a Dockyard process, gathered from the packages that declare them, and the
task worker's `runs`: what `serve` runs in-process (the enabled ones) and what
`dockyard worker --jobs ...` picks from."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.config import Settings
from dockyard.jobs.task_worker import TaskWorker, TaskWorkerSettings
from dockyard.periodic import Job
from dockyard.registry.core import Registry
from dockyard.registry.jobs import registry_jobs
from dockyard.tasks.base_triggers import BaseImageTriggers
from dockyard.tasks.commit_polls import CommitPolls
from dockyard.tasks.engines import RegistryAccess
from dockyard.tasks.jobs import POLL_JITTER, TaskJobSettings, task_jobs
from dockyard.webhooks.jobs import webhook_jobs
from dockyard.webhooks.service import WebhookService

RUNS = "runs"
# Runs done in a row before the worker waits a poll: none while the queue has runs.
RUNS_IN_A_ROW = 100


class UnknownJobs(ValueError):
    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(f"no job named {', '.join(unknown)}; the jobs are: {', '.join(known)}")
        self.unknown = tuple(unknown)


def build_jobs(
    settings: Settings,
    registry: Registry,
    webhooks: WebhookService,
    access: AccessService | None,
    signer: TokenSigner | None,
    worker_id: str | None = None,
) -> list[Job]:
    """Every job, enabled as the settings say: gc with `gc_enabled`; `runs` and the removal
    of build contexts with `tasks_enabled` (without it a process still ends the runs whose
    worker was lost, fires timers and follows triggers, as it queues runs for others)."""
    worker = TaskWorker(
        registry.db,
        registry.driver,
        TaskWorkerSettings.from_settings(settings, claim=settings.tasks_enabled),
        access,
        signer,
        worker_id,
    )
    worker_settings = worker.settings
    triggers = BaseImageTriggers(
        registry.db,
        worker.saved,
        worker.digests,
        RegistryAccess(worker_settings.registry_url).host,
        worker_settings.upstream_registries,
    )
    return [
        *registry_jobs(
            registry,
            gc_interval_seconds=settings.gc_interval_seconds,
            gc_enabled=settings.gc_enabled,
            cleanup_interval_seconds=settings.cleanup_interval_seconds,
        ),
        *webhook_jobs(webhooks, poll_seconds=settings.webhook_poll_seconds),
        *task_jobs(
            worker.saved,
            triggers,
            CommitPolls(worker.saved, worker_settings.executor.allow_private_sources),
            worker.runs,
            worker.logs,
            worker.sweep_work_dir,
            worker.sources,
            TaskJobSettings(
                poll_seconds=worker_settings.poll_seconds,
                commit_poll_seconds=worker_settings.commit_poll_seconds,
                base_image_poll_seconds=worker_settings.base_image_poll_seconds,
                source_ttl_seconds=worker_settings.source_ttl_seconds,
                sweep_sources=bool(worker_settings.engines),
            ),
        ),
        Job(
            RUNS,
            worker_settings.poll_seconds,
            worker.poll_once,
            enabled=bool(worker_settings.engines),
            description="task runs: claim queued runs and do them (quick builds, task files)",
            drain=RUNS_IN_A_ROW,
            jitter=POLL_JITTER,
            run_at_start=True,
            stop=worker.stop,
        ),
    ]


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
