"""`/v2/` version check, `/healthz` and Prometheus `/metrics`."""

from __future__ import annotations

from anyio import to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.metrics import DatabaseGauges, render
from dockyard.api.routes import HEALTH, METRICS, VERSION, VERSION_NO_SLASH
from dockyard.registry.core import Registry


def base_routes(registry: Registry, multiprocess_metrics: bool) -> list[Route]:
    gauges = DatabaseGauges(registry)

    async def version_check(request: Request) -> Response:
        return JSONResponse({})

    def _check_database() -> None:
        with registry.db.read() as conn:
            conn.execute(text("SELECT 1"))

    async def healthz(request: Request) -> Response:
        try:
            await to_thread.run_sync(_check_database)
        except Exception as exc:  # the health check reports any failure, it does not raise
            return JSONResponse({"status": "unhealthy", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        payload = await to_thread.run_sync(render, gauges, multiprocess_metrics)
        return Response(payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [
        VERSION.route(version_check, "GET", "HEAD"),
        VERSION_NO_SLASH.route(version_check, "GET", "HEAD"),
        HEALTH.route(healthz, "GET", "HEAD"),
        METRICS.route(metrics, "GET"),
    ]
