"""ACR-compatible data-plane endpoints (repository deletion so far)."""

from __future__ import annotations

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.context import request_info
from dockyard.registry.core import Registry


def acr_routes(registry: Registry) -> list[Route]:
    async def delete_repository(request: Request) -> Response:
        deleted = await to_thread.run_sync(
            registry.repositories.delete, request.path_params["name"], request_info(request)
        )
        return JSONResponse(
            {"manifestsDeleted": deleted.manifests_deleted, "tagsDeleted": deleted.tags_deleted},
            status_code=202,
        )

    return [Route("/acr/v1/{name:path}", delete_repository, methods=["DELETE"])]
