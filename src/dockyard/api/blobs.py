"""Blob GET, HEAD and DELETE (OCI distribution-spec 1.1, 'Pulling blobs', 'Deleting blobs')."""

from __future__ import annotations

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.api.errors import error_response
from dockyard.api.routes import BLOB
from dockyard.api.streaming import BlobResponse, not_modified
from dockyard.errors import BlobUnknown, RangeInvalid
from dockyard.registry.core import Registry
from dockyard.registry.names import check_digest
from dockyard.spec.ranges import RangeNotSatisfiable, parse_range

OCTET_STREAM = "application/octet-stream"


def blob_routes(registry: Registry) -> list[Route]:
    async def get_blob(request: Request) -> Response:
        name = request.path_params["name"]
        digest = check_digest(request.path_params["digest"])
        head = request.method == "HEAD"
        try:
            info = await to_thread.run_sync(registry.blobs.stat, name, digest)
        except BlobUnknown:
            content = await to_thread.run_sync(registry.blobs.manifest_as_blob, name, digest)
            return Response(
                b"" if head else content,
                headers={
                    "Docker-Content-Digest": str(digest),
                    "Content-Length": str(len(content)),
                    "Content-Type": OCTET_STREAM,
                    "Accept-Ranges": "bytes",
                },
            )
        headers = {
            "Docker-Content-Digest": info.digest,
            "Accept-Ranges": "bytes",
            "Content-Type": OCTET_STREAM,
            "ETag": f'"{info.digest}"',
            "Cache-Control": "max-age=31536000",
        }
        cached = not_modified(request, headers["ETag"], headers)
        if cached is not None:
            return cached
        try:
            wanted = parse_range(request.headers.get("range"), info.size)
        except RangeNotSatisfiable:
            outside = RangeInvalid(
                f"range {request.headers.get('range')!r} is outside the blob's {info.size} bytes"
            )
            return error_response(
                outside, head=head, headers={"Content-Range": f"bytes */{info.size}"}
            )
        if wanted is None:
            headers["Content-Length"] = str(info.size)
            return BlobResponse(headers, 200, registry.blobs.local_path(info), None, head)
        headers["Content-Length"] = str(wanted.length)
        headers["Content-Range"] = wanted.content_range(info.size)
        chunks = None if head else registry.blobs.read(info, wanted.start, wanted.length)
        return BlobResponse(headers, 206, None, chunks, head)

    async def delete_blob(request: Request) -> Response:
        name = request.path_params["name"]
        digest = check_digest(request.path_params["digest"])
        await to_thread.run_sync(registry.blobs.unlink, name, digest)
        return Response(
            status_code=202, headers={"Docker-Content-Digest": str(digest), "Content-Length": "0"}
        )

    return [
        BLOB.route(get_blob, "GET", "HEAD"),
        BLOB.route(delete_blob, "DELETE"),
    ]
