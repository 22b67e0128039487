"""The HTTP edge's assembly: the services (built by compose.py) -> routes, gates and
background loops -> one ASGI app."""

from __future__ import annotations

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
from dockyard.access.authenticator import Authenticator
from dockyard.access.caller import Caller
from dockyard.access.rights import PULL, QUARANTINE_READ
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
from dockyard.compose import Services, build_services
from dockyard.config import Settings, load_settings
from dockyard.errors import DockyardError
from dockyard.jobs.catalog import select_jobs
from dockyard.jobs.runtime import Scheduler
from dockyard.spec.ip_ranges import AddressSet, parse_ip_range


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


def create_app(services: Services) -> ASGIApp:
    from dockyard.api.acr import acr_routes
    from dockyard.api.management import management_app

    settings = services.settings
    registry, webhooks, access = services.registry, services.webhooks, services.auth
    auth = access if settings.auth.enabled else None
    # The enabled jobs: gc with gc_enabled, task runs with tasks_enabled (compose.build_jobs).
    jobs = Scheduler(registry.db, select_jobs(services.jobs, None))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        jobs.start()
        try:
            yield
        finally:
            await to_thread.run_sync(jobs.stop)
            services.close()

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
                enforce=settings.auth.enabled,
                registry_core=registry,
                tasks=services.tasks,
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
    limiter = services.rate_limiter
    limited: ASGIApp = RateLimitMiddleware(app, limiter) if limiter else app
    guarded: ASGIApp = AuthGate(limited, auth) if auth else limited
    # Outside AuthGate: a client the network rules refuse is refused before its credentials
    # are looked at (but for the management API, see api/network_rules.py).
    proxies = AddressSet.of(parse_ip_range(text) for text in settings.server.trusted_proxies)
    fenced = NetworkRuleGate(
        guarded, registry.network_rules, ClientAddress(proxies), auth, access.access.audit
    )
    # Outside both gates, whose refusals are the usual early answers.
    drained = UnreadBodyDrain(fenced, settings.server.unread_body_drain_bytes)
    return AccessLogMiddleware(drained, json_format=settings.log.format == "json")


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log.level.upper())
    handler = logging.StreamHandler(sys.stderr)
    if settings.log.format == "json":
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
    return create_app(build_services(settings))
