"""The composition root: settings -> storage -> services -> ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from dockyard import telemetry
from dockyard.access.audit import AuditLog, AuditRetention
from dockyard.access.authenticator import Authenticator
from dockyard.access.caller import Caller
from dockyard.access.oidc import OidcVerifier
from dockyard.access.rights import PULL, QUARANTINE_READ
from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.api.auth import AuthGate
from dockyard.api.base import base_routes
from dockyard.api.blobs import blob_routes
from dockyard.api.body_drain import UnreadBodyDrain
from dockyard.api.errors import handle_dockyard_error, handle_http_exception, handle_unexpected
from dockyard.api.listing import listing_routes
from dockyard.api.manifests import manifest_routes
from dockyard.api.middleware import AccessLogMiddleware
from dockyard.api.network_rules import ClientAddress, NetworkRuleGate
from dockyard.api.oauth import oauth_routes
from dockyard.api.ratelimit import RateLimitMiddleware
from dockyard.api.uploads import upload_routes
from dockyard.config import Settings, load_settings
from dockyard.errors import DockyardError
from dockyard.jobs.task_worker import build_task_worker
from dockyard.jobs.worker import BackgroundWorker
from dockyard.registry.core import Registry, RegistryOptions
from dockyard.registry.ratelimit import DatabaseBuckets, RateLimiter, RateTable
from dockyard.spec.ip_ranges import AddressSet, parse_ip_range
from dockyard.storage.db.database import Database
from dockyard.storage.filesystem import FilesystemDriver
from dockyard.tasks.service import TaskPolicy, TaskService
from dockyard.webhooks.service import WebhookService, WebhookSettings


def build_registry(settings: Settings) -> Registry:
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    driver = FilesystemDriver(settings.data_dir / "storage")
    db = Database(settings.database_url)
    options = RegistryOptions(
        allow_sparse_manifests=settings.allow_sparse_manifests,
        max_manifest_bytes=settings.max_manifest_bytes,
        gc_grace_seconds=settings.gc_grace_seconds,
        upload_ttl_seconds=settings.upload_ttl_seconds,
        gc_delete_untagged=settings.gc_delete_untagged,
        storage_limit_bytes=settings.storage_limit_bytes,
        rate_overrides=settings.rate_limits,
        import_allow_private_sources=settings.import_allow_private_sources,
    )
    return Registry(db, driver, options)


def build_webhooks(settings: Settings, registry: Registry) -> WebhookService:
    return WebhookService(
        registry.db,
        WebhookSettings(
            allow_private_targets=settings.webhook_allow_private_targets,
            retry_base_seconds=settings.webhook_retry_base_seconds,
            retry_max_seconds=settings.webhook_retry_max_seconds,
            retry_horizon_seconds=settings.webhook_retry_horizon_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
        ),
    )


def build_tasks(settings: Settings, registry: Registry) -> TaskService:
    return TaskService(registry.db, registry.driver, TaskPolicy.from_settings(settings))


def build_access(settings: Settings, registry: Registry) -> Authenticator:
    access = AccessService(
        registry.db,
        AuditLog(
            settings.data_dir / "audit.log",
            AuditRetention(
                max_bytes=settings.audit_log_max_bytes,
                backups=settings.audit_log_backups,
                max_age_seconds=settings.audit_log_max_age_days * 24 * 3600,
            ),
            record_reads=settings.audit_log_reads,
        ),
        settings.admin_username,
        settings.login_max_failures_per_address,
    )
    oidc = (
        OidcVerifier(
            settings.oidc_issuer,
            settings.oidc_audiences,
            settings.oidc_jwks_url,
            settings.oidc_username_claim,
        )
        if settings.oidc_issuer
        else None
    )
    return Authenticator(
        access, TokenSigner(registry.db), settings.token_service, oidc, settings.public_url
    )


def build_rate_limiter(settings: Settings, registry: Registry) -> RateLimiter:
    rates = RateTable(registry.policies, settings.rate_limits_per_identity)
    if settings.rate_limit_redis_url:
        # Imported only here: the redis client is an optional dependency.
        try:
            from dockyard.registry.ratelimit.redis_buckets import RedisBuckets
        except ImportError as exc:
            raise RuntimeError(
                "rate_limit_redis_url needs the redis client: pip install 'dockyard[redis]'"
            ) from exc
        return RateLimiter(rates, RedisBuckets(settings.rate_limit_redis_url))
    return RateLimiter(rates, DatabaseBuckets(registry.db))


def _catalog_filter(auth: Authenticator) -> Callable[[Request], Callable[[str], bool] | None]:
    def visible(request: Request) -> Callable[[str], bool] | None:
        caller: Caller | None = request.scope.get("state", {}).get("caller")
        if caller is None:
            return None
        rights = auth.access.permissions.rights(caller.principal)
        return lambda name: rights.allows(name, PULL)

    return visible


def _quarantine_reader(auth: Authenticator) -> Callable[[Request, str], bool]:
    def may(request: Request, name: str) -> bool:
        caller: Caller | None = request.scope.get("state", {}).get("caller")
        if caller is None:
            return False
        return auth.access.permissions.rights(caller.principal).allows(name, QUARANTINE_READ)

    return may


def import_served_api() -> None:
    """Import the parts of the API that only create_app needs: FastAPI and the models of the
    ACR and management APIs cost about a second of CPU, which gc, check, worker and the
    first-start bootstrap do not pay. `serve` calls this before Granian forks its workers,
    so that they inherit these modules instead of importing them each."""
    import dockyard.api.acr
    import dockyard.api.management  # noqa: F401


def create_app(settings: Settings, registry: Registry | None = None) -> ASGIApp:
    from dockyard.api.acr import acr_routes
    from dockyard.api.management import management_app

    registry = registry or build_registry(settings)
    webhooks = build_webhooks(settings, registry)
    worker = BackgroundWorker(
        registry,
        settings.gc_interval_seconds,
        webhooks,
        settings.webhook_poll_seconds,
        settings.cleanup_interval_seconds,
    )
    access = build_access(settings, registry)
    auth = access if settings.auth_enabled else None
    tasks = build_tasks(settings, registry)
    # With tasks off, the worker only ends runs whose worker was lost.
    task_worker = build_task_worker(
        settings, registry.db, registry.driver, access.access, access.signer
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(worker.run()) if settings.gc_enabled else None
        webhook_task = asyncio.create_task(worker.run_webhooks())
        cleanup_task = asyncio.create_task(worker.run_cleanup())
        task_worker.start()
        try:
            yield
        finally:
            await to_thread.run_sync(task_worker.stop)
            for background in (webhook_task, cleanup_task):
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            registry.db.dispose()

    routes: list[BaseRoute] = [
        *base_routes(registry, multiprocess_metrics="PROMETHEUS_MULTIPROC_DIR" in os.environ),
        *listing_routes(registry, _catalog_filter(auth) if auth else None),
        *(oauth_routes(auth) if auth else []),
        *upload_routes(registry),
        *blob_routes(registry),
        *(
            manifest_routes(registry, _quarantine_reader(auth))
            if auth
            else manifest_routes(registry)
        ),
        *acr_routes(registry),
        # Without auth the management API answers everyone, as the registry does.
        Mount(
            "/api/v1",
            app=management_app(
                access,
                webhooks,
                enforce=settings.auth_enabled,
                registry_core=registry,
                tasks=tasks,
            ),
        ),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            DockyardError: handle_dockyard_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    # Inside AuthGate, which names the caller whose own rate a request counts against.
    limited: ASGIApp = (
        RateLimitMiddleware(app, build_rate_limiter(settings, registry))
        if settings.rate_limit_enabled
        else app
    )
    guarded: ASGIApp = AuthGate(limited, auth) if auth else limited
    # Outside AuthGate: a client the network rules refuse is refused before its credentials
    # are looked at (but for the management API, see api/network_rules.py).
    proxies = AddressSet.of(parse_ip_range(text) for text in settings.trusted_proxies)
    fenced = NetworkRuleGate(
        guarded, registry.network_rules, ClientAddress(proxies), auth, access.access.audit
    )
    # Outside both gates, whose refusals are the usual early answers.
    drained = UnreadBodyDrain(fenced, settings.unread_body_drain_bytes)
    return AccessLogMiddleware(drained, json_format=settings.log_format == "json")


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level.upper())
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("dockyard")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def create_app_from_env() -> ASGIApp:
    """Factory for server worker processes: every setting arrives as a DOCKYARD_* variable."""
    settings = load_settings()
    configure_logging(settings)
    if not telemetry.multiprocess_ready():
        logging.getLogger("dockyard.metrics").error(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
            "this process's series are missing from /metrics"
        )
    elif not telemetry.preallocate_process_files():
        telemetry.keep_in_memory()
    return create_app(settings)
