"""Blob uploads: monolithic, POST+PUT, chunked and streamed PATCH, status, cancel, mount."""

from __future__ import annotations

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.api.errors import progress_headers
from dockyard.api.routes import UPLOAD, UPLOAD_START
from dockyard.api.streaming import content_length, receive_body
from dockyard.errors import DigestInvalid, RangeInvalid, Unsupported
from dockyard.registry.core import Registry
from dockyard.registry.names import check_digest, check_name
from dockyard.registry.uploads import SessionLease, UploadSession
from dockyard.spec.ranges import parse_chunk_range
from dockyard.spec.upload_query import InvalidUploadQuery, UploadStart, parse_upload_start

# Where AuthGate leaves the upload POST's query it checked, for the handler to act on.
UPLOAD_START_STATE = "upload_start"


def upload_start(request: Request) -> UploadStart:
    """The upload POST's query, as the gate read it when it checked the request (it may have
    dropped a mount the caller may not do), else read here."""
    checked = request.scope.get("state", {}).get(UPLOAD_START_STATE)
    if isinstance(checked, UploadStart):
        return checked
    return read_upload_start(request.scope.get("query_string", b""))


def read_upload_start(query: bytes) -> UploadStart:
    try:
        return parse_upload_start(query.decode("latin-1"))
    except InvalidUploadQuery as exc:
        raise Unsupported(str(exc)) from exc


def _created(name: str, digest: str) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


def _accepted(session: UploadSession, status: int = 202) -> Response:
    headers = progress_headers(session.progress)
    headers["Content-Length"] = "0"
    return Response(status_code=status, headers=headers)


def upload_routes(registry: Registry) -> list[Route]:
    uploads = registry.uploads

    async def start_upload(request: Request) -> Response:
        name = check_name(request.path_params["name"])
        start = upload_start(request)
        if start.mount is not None:
            # A mount that cannot be done (bad digest, bad or unknown source) falls back to an
            # ordinary upload session, as distribution-spec 1.1 asks.
            digest = start.mount_digest
            if digest is not None:
                mounted = await to_thread.run_sync(registry.blobs.mount, name, digest, start.source)
                if mounted:
                    return _created(name, str(digest))
        elif start.digest is not None:
            digest = check_digest(start.digest)
            expected = content_length(request)
            if expected:
                await to_thread.run_sync(uploads.ensure_room, None, expected)
            upload_id, chunk = await to_thread.run_sync(uploads.open_stream, name, digest)
            try:
                await receive_body(request, chunk, expected)
                stored = await to_thread.run_sync(
                    uploads.commit_stream, name, upload_id, chunk, digest
                )
            except BaseException:
                await to_thread.run_sync(uploads.discard_stream, upload_id, chunk)
                raise
            return _created(name, stored)
        session = await to_thread.run_sync(uploads.start, name)
        return _accepted(session)

    async def upload_status(request: Request) -> Response:
        session = await to_thread.run_sync(
            uploads.get, request.path_params["name"], request.path_params["upload_id"]
        )
        return _accepted(session, status=204)

    async def _append(
        request: Request, session: UploadSession, algorithm: str = "sha256", finishing: bool = False
    ) -> tuple[UploadSession, SessionLease | None]:
        expected = content_length(request)
        start: int | None = None
        header = request.headers.get("content-range")
        if header:
            chunk_range = parse_chunk_range(header)
            if chunk_range is None:
                raise RangeInvalid(f"invalid Content-Range {header!r}", progress=session.progress)
            if expected is not None and expected != chunk_range.length:
                raise RangeInvalid(
                    f"Content-Range {header!r} does not match Content-Length {expected}",
                    progress=session.progress,
                )
            start = chunk_range.start
        if expected:
            await to_thread.run_sync(uploads.ensure_room, session, expected)
        chunk = await to_thread.run_sync(uploads.open_chunk, session, start, algorithm)
        try:
            await receive_body(request, chunk, expected)
        except BaseException:
            await to_thread.run_sync(uploads.abort_chunk, chunk)
            raise
        return await to_thread.run_sync(uploads.close_chunk, session, chunk, finishing)

    async def patch_upload(request: Request) -> Response:
        session = await to_thread.run_sync(
            uploads.get, request.path_params["name"], request.path_params["upload_id"]
        )
        session, _ = await _append(request, session)
        return _accepted(session)

    async def finish_upload(request: Request) -> Response:
        session = await to_thread.run_sync(
            uploads.get, request.path_params["name"], request.path_params["upload_id"]
        )
        text = request.query_params.get("digest")
        if not text:
            raise DigestInvalid("the digest query parameter is required to finish an upload")
        digest = check_digest(text)
        expected = content_length(request)
        lease: SessionLease | None = None
        if expected or request.headers.get("transfer-encoding"):
            session, lease = await _append(request, session, digest.algorithm, finishing=True)
        stored = await to_thread.run_sync(uploads.complete, session, digest, lease)
        return _created(session.repository, stored)

    async def cancel_upload(request: Request) -> Response:
        session = await to_thread.run_sync(
            uploads.get, request.path_params["name"], request.path_params["upload_id"]
        )
        await to_thread.run_sync(uploads.cancel, session)
        return Response(status_code=204)

    return [
        UPLOAD_START.route(start_upload, "POST"),
        UPLOAD.route(upload_status, "GET"),
        UPLOAD.route(patch_upload, "PATCH"),
        UPLOAD.route(finish_upload, "PUT"),
        UPLOAD.route(cancel_upload, "DELETE"),
    ]
