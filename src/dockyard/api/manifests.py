"""Manifest PUT, GET, HEAD and DELETE (OCI distribution-spec 1.1)."""

from __future__ import annotations

from collections.abc import Callable

from anyio import to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.api.context import request_info
from dockyard.api.routes import MANIFEST
from dockyard.api.streaming import content_length, not_modified
from dockyard.errors import Denied, ManifestInvalid, TooLarge
from dockyard.registry.core import Registry


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes without reading them all."""
    declared = content_length(request)
    if declared is not None and declared > limit:
        raise TooLarge(f"manifest is {declared} bytes; the limit is {limit}")
    parts: list[bytes] = []
    received = 0
    try:
        async for data in request.stream():
            received += len(data)
            if received > limit:
                raise TooLarge(f"manifest exceeds the limit of {limit} bytes")
            parts.append(data)
    except ClientDisconnect as exc:
        raise ManifestInvalid("the client disconnected before the manifest was complete") from exc
    return b"".join(parts)


def _everyone(_request: Request, _name: str) -> bool:
    return True


def manifest_routes(
    registry: Registry, may_read_quarantined: Callable[[Request, str], bool] = _everyone
) -> list[Route]:
    """`may_read_quarantined(request, repository)`: whether the caller may pull manifests that
    the quarantine policy holds (blocking: it may read the caller's rights)."""
    service = registry.manifests

    async def put_manifest(request: Request) -> Response:
        name = request.path_params["name"]
        reference = request.path_params["reference"]
        body = await read_limited(request, service.max_bytes)
        extra_tags = request.query_params.getlist("tag")
        pushed = await to_thread.run_sync(
            service.put,
            name,
            reference,
            body,
            request.headers.get("content-type"),
            extra_tags,
            request_info(request),
        )
        headers = {
            "Location": f"/v2/{name}/manifests/{pushed.digest}",
            "Docker-Content-Digest": pushed.digest,
            "Content-Length": "0",
        }
        if pushed.subject:
            headers["OCI-Subject"] = pushed.subject
        if extra_tags:
            headers["OCI-Tag"] = ", ".join(pushed.tags)
        return Response(status_code=201, headers=headers)

    async def get_manifest(request: Request) -> Response:
        stored = await to_thread.run_sync(
            service.get,
            request.path_params["name"],
            request.path_params["reference"],
            ", ".join(request.headers.getlist("accept")) or None,
        )
        name = request.path_params["name"]
        if stored.quarantined and not await to_thread.run_sync(may_read_quarantined, request, name):
            raise Denied(
                f"manifest {stored.digest} in {name!r} is in quarantine until a scanner passes it",
                detail={"digest": stored.digest},
            )
        headers = {
            "Docker-Content-Digest": stored.digest,
            "Content-Type": stored.media_type,
            "Content-Length": str(stored.size),
            "ETag": f'"{stored.digest}"',
        }
        cached = not_modified(request, headers["ETag"], headers)
        if cached is not None:
            return cached
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        return Response(stored.content, status_code=200, headers=headers)

    async def delete_manifest(request: Request) -> Response:
        await to_thread.run_sync(
            service.delete,
            request.path_params["name"],
            request.path_params["reference"],
            request_info(request),
        )
        return Response(status_code=202, headers={"Content-Length": "0"})

    return [
        MANIFEST.route(get_manifest, "GET", "HEAD"),
        MANIFEST.route(put_manifest, "PUT"),
        MANIFEST.route(delete_manifest, "DELETE"),
    ]
