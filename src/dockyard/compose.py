"""The composition root: every service is built here, once, from the settings, and handed
to the edges (app.py, the CLI's server commands) and the jobs explicitly.

A new wing (a feature package) is added by writing its package and one builder here that
takes the settings section it needs and the services it uses, plus its field on Services.
Nothing below this module reads `Settings`: each part gets the values it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockyard.access.audit import AuditLog, AuditRetention
from dockyard.access.authenticator import Authenticator
from dockyard.access.oidc import OidcVerifier
from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.config import Settings
from dockyard.jobs.catalog import runs_job
from dockyard.jobs.task_worker import TaskWorker, TaskWorkerSettings
from dockyard.periodic import Job
from dockyard.registry.attributes import AttributeService
from dockyard.registry.blobs import BlobService
from dockyard.registry.core import Registry
from dockyard.registry.gc import GarbageCollector
from dockyard.registry.importer import ImportService
from dockyard.registry.integrity import IntegrityChecker
from dockyard.registry.jobs import registry_jobs
from dockyard.registry.listing import ListingService
from dockyard.registry.local_images import RegistryImages
from dockyard.registry.manifests import ManifestService
from dockyard.registry.network_rules import NetworkRuleService
from dockyard.registry.purge import PurgeService
from dockyard.registry.quarantine import QuarantineService
from dockyard.registry.repositories import RepositoryService
from dockyard.registry.retention import RetentionService, policies_changed
from dockyard.registry.soft_delete import SoftDeleteService
from dockyard.registry.uploads import UploadService
from dockyard.registry.usage import StorageLimit, UsageService
from dockyard.storage.db.database import Database
from dockyard.storage.driver import BlobDriver
from dockyard.storage.filesystem import FilesystemDriver
from dockyard.tasks.base_triggers import BaseImageTriggers
from dockyard.tasks.commit_polls import CommitPolls
from dockyard.tasks.engines import RegistryAccess
from dockyard.tasks.executor import ExecutorSettings
from dockyard.tasks.jobs import TaskJobSettings, task_jobs
from dockyard.tasks.service import TaskPolicy, TaskService
from dockyard.tiers.policies import PolicyService
from dockyard.tiers.ratelimit import DatabaseBuckets, RateLimiter, RateTable
from dockyard.webhooks import Webhooks
from dockyard.webhooks import WebhookSettings as WebhookPolicy
from dockyard.webhooks.jobs import webhook_jobs


@dataclass(frozen=True)
class Services:
    """Everything one process serves or runs with, built once."""

    settings: Settings
    db: Database
    driver: BlobDriver
    registry: Registry
    auth: Authenticator
    webhooks: Webhooks
    tasks: TaskService
    task_worker: TaskWorker
    rate_limiter: RateLimiter | None  # None: rate limits are off
    jobs: list[Job]  # every periodic job, enabled or not (jobs/catalog.py chooses)

    def close(self) -> None:
        self.db.dispose()


def build_services(
    settings: Settings, *, claim_runs: bool | None = None, worker_name: str | None = None
) -> Services:
    """`claim_runs`: whether this process's task worker takes queued runs (default: the
    tasks setting); without it the worker only ends runs whose worker was lost.
    `worker_name`: how this process's task worker names itself (default: host + random)."""
    db, driver = build_storage(settings)
    registry = build_registry(settings, db, driver)
    auth = build_auth(settings, db)
    policy = task_policy(settings)
    claim = settings.tasks.enabled if claim_runs is None else claim_runs
    webhooks = build_webhooks(settings, db)
    task_worker = TaskWorker(
        db,
        driver,
        task_worker_settings(settings, policy, claim),
        auth.access,
        auth.signer,
        worker_name,
        images=RegistryImages(db),
    )
    return Services(
        settings=settings,
        db=db,
        driver=driver,
        registry=registry,
        auth=auth,
        webhooks=webhooks,
        tasks=TaskService(db, driver, policy),
        task_worker=task_worker,
        rate_limiter=build_rate_limiter(settings, registry)
        if settings.rate_limit.enabled
        else None,
        jobs=build_jobs(settings, registry, webhooks, task_worker),
    )


def build_storage(settings: Settings) -> tuple[Database, BlobDriver]:
    data_dir = settings.storage.data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Database(settings.database_url), FilesystemDriver(data_dir / "storage")


def build_registry(settings: Settings, db: Database, driver: BlobDriver) -> Registry:
    storage, gc = settings.storage, settings.gc
    sparse = storage.allow_sparse_manifests
    limit = StorageLimit(storage.limit_bytes)
    blobs = BlobService(db, driver, gc.grace_seconds, limit)
    uploads = UploadService(db, driver, blobs)
    manifests = ManifestService(db, driver, sparse, storage.max_manifest_bytes, limit)
    return Registry(
        db=db,
        driver=driver,
        storage_limit=limit,
        usage=UsageService(db, limit),
        blobs=blobs,
        uploads=uploads,
        manifests=manifests,
        attributes=AttributeService(db),
        listing=ListingService(db),
        imports=ImportService(
            db, blobs, uploads, manifests, settings.imports.allow_private_sources
        ),
        repositories=RepositoryService(db),
        soft_delete=SoftDeleteService(db, manifests, sparse),
        retention=RetentionService(db, manifests),
        purge=PurgeService(db, manifests),
        quarantine=QuarantineService(db),
        policies=PolicyService(
            db, storage.limit_bytes, settings.rate_limit.limits, on_change=policies_changed
        ),
        network_rules=NetworkRuleService(db),
        integrity=IntegrityChecker(db, driver, sparse),
        gc=GarbageCollector(
            db,
            driver,
            grace_seconds=gc.grace_seconds,
            upload_ttl_seconds=storage.upload_ttl_seconds,
            delete_untagged=gc.delete_untagged,
        ),
    )


def build_auth(settings: Settings, db: Database) -> Authenticator:
    audit = settings.audit
    access = AccessService(
        db,
        AuditLog(
            settings.storage.data_dir / "audit.log",
            AuditRetention(
                max_bytes=audit.max_bytes,
                backups=audit.backups,
                max_age_seconds=audit.max_age_days * 24 * 3600,
            ),
            record_reads=audit.reads,
        ),
        settings.auth.admin_username,
        settings.auth.login_max_failures_per_address,
    )
    oidc = settings.oidc
    verifier = (
        OidcVerifier(oidc.issuer, oidc.audiences, oidc.jwks_url, oidc.username_claim)
        if oidc.issuer
        else None
    )
    return Authenticator(
        access, TokenSigner(db), settings.token_service, verifier, settings.server.public_url
    )


def build_webhooks(settings: Settings, db: Database) -> Webhooks:
    webhooks = settings.webhooks
    return Webhooks(
        db,
        WebhookPolicy(
            allow_private_targets=webhooks.allow_private_targets,
            retry_base_seconds=webhooks.retry_base_seconds,
            retry_max_seconds=webhooks.retry_max_seconds,
            retry_horizon_seconds=webhooks.retry_horizon_seconds,
            timeout_seconds=webhooks.timeout_seconds,
        ),
    )


def build_rate_limiter(settings: Settings, registry: Registry) -> RateLimiter:
    limits = settings.rate_limit
    rates = RateTable(registry.policies, limits.per_identity)
    if limits.redis_url:
        # Imported only here: the redis client is an optional dependency.
        try:
            from dockyard.tiers.ratelimit.redis_buckets import RedisBuckets
        except ImportError as exc:
            raise RuntimeError(
                "rate_limit_redis_url needs the redis client: pip install 'dockyard[redis]'"
            ) from exc
        return RateLimiter(rates, RedisBuckets(limits.redis_url))
    return RateLimiter(rates, DatabaseBuckets(registry.db))


def task_policy(settings: Settings) -> TaskPolicy:
    """The policy as configured: the API and every worker's triggers use this one."""
    tasks = settings.tasks
    return TaskPolicy(
        default_engine=tasks.engines[0] if tasks.engines else "buildah",
        min_timeout_seconds=tasks.min_timeout_seconds,
        max_source_bytes=tasks.max_source_bytes,
        allow_private_sources=tasks.allow_private_sources,
    )


def task_registry_url(settings: Settings) -> str:
    """How builds reach this registry: task_registry_url, else the serve address."""
    if settings.tasks.registry_url:
        return settings.tasks.registry_url.rstrip("/")
    host = settings.server.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.server.tls_cert else "http"
    return f"{scheme}://{host}:{settings.server.port}"


def task_worker_settings(settings: Settings, policy: TaskPolicy, claim: bool) -> TaskWorkerSettings:
    tasks = settings.tasks
    work_dir = tasks.work_dir or settings.storage.data_dir / "tasks"
    return TaskWorkerSettings(
        engines=tuple(tasks.engines) if claim else (),
        registry_url=task_registry_url(settings),
        auth_enabled=settings.auth.enabled,
        auth_service=settings.token_service,
        lease_seconds=tasks.lease_seconds,
        poll_seconds=tasks.poll_seconds,
        upstream_registries=tuple(tasks.upstream_registries),
        source_ttl_seconds=tasks.source_ttl_seconds,
        base_image_poll_seconds=tasks.base_image_poll_seconds,
        executor=ExecutorSettings(
            work_dir=Path(work_dir).resolve(),
            max_source_bytes=tasks.max_source_bytes,
            allow_private_sources=tasks.allow_private_sources,
            allow_privileged_steps=tasks.allow_privileged_steps,
            allow_host_network_steps=tasks.allow_host_network,
        ),
        commit_poll_seconds=tasks.commit_poll_seconds,
        policy=policy,
    )


def build_jobs(
    settings: Settings, registry: Registry, webhooks: Webhooks, worker: TaskWorker
) -> list[Job]:
    """Every periodic job, each declared by its package, enabled as the settings say: gc with
    `gc_enabled`; `runs` and the removal of build contexts with a worker that claims runs
    (without it a process still ends the runs whose worker was lost, fires timers and
    follows triggers, as it queues runs for others)."""
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
            gc_interval_seconds=settings.gc.interval_seconds,
            gc_enabled=settings.gc.enabled,
            cleanup_interval_seconds=settings.cleanup.interval_seconds,
        ),
        *webhook_jobs(webhooks, poll_seconds=settings.webhooks.poll_seconds),
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
        runs_job(worker),
    ]
