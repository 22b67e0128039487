"""`/imports`: copy an image, with every platform and referrer, from another registry.

The answer is a stream of NDJSON progress lines ending in a result line, or in an error line
carrying the OCI error envelope. Refusals found before anything is copied (a bad source or
target, an existing tag without force, a source the server may not reach, a source without
that image) are ordinary error answers instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from anyio import CancelScope, to_thread
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.types import Send

from dockyard.access.service import AccessService
from dockyard.api.context import request_info
from dockyard.api.errors import envelope
from dockyard.api.management.deps import Access, RegistryDep, Writer
from dockyard.errors import DockyardError
from dockyard.registry.importer import PreparedImport
from dockyard.spec.codes import ErrorCode
from dockyard.wire.imports import ImportRequest

log = logging.getLogger("dockyard.api")
router = APIRouter(tags=["imports"])
NDJSON = "application/x-ndjson"

_EXAMPLE = "\n".join(
    json.dumps(line)
    for line in (
        {"event": "started", "source": "registry.example.com/app:1.0", "digest": "sha256:…"},
        {"event": "plan", "manifests": 3, "blobs": 5, "bytes": 52428800},
        {"event": "blob", "digest": "sha256:…", "size": 1048576, "status": "started"},
        {"event": "blob", "digest": "sha256:…", "size": 1048576, "status": "progress", "bytes": 1},
        {"event": "blob", "digest": "sha256:…", "size": 1048576, "status": "done"},
        {
            "event": "blob",
            "digest": "sha256:…",
            "size": 42,
            "status": "skipped",
            "reason": "present",
        },
        {"event": "manifest", "status": "stored", "repository": "app", "digest": "sha256:…"},
        {"event": "result", "status": "succeeded", "digest": "sha256:…", "tags": ["app:1.0"]},
    )
)


@router.post(
    "/imports",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Progress as NDJSON, one event a line, ending in a `result` line "
            "or an `error` line with the OCI error envelope's `errors`",
            "content": {NDJSON: {"example": _EXAMPLE}},
        },
        404: {"description": "The source has no such image"},
        409: {"description": "A target tag exists and force is off"},
        502: {"description": "The source registry cannot be reached"},
    },
)
async def import_image(
    body: ImportRequest, request: Request, principal: Writer, registry: RegistryDep, access: Access
) -> StreamingResponse:
    """Copy an image from another registry: every platform of an index and the referrers of
    every manifest, tagged only once all of it is in."""
    credentials = (body.username, body.password or "") if body.username else None
    job = await to_thread.run_sync(
        registry.imports.prepare,
        body.source,
        body.images,
        credentials,
        body.force,
        request_info(request),
    )
    lines = _ndjson(registry.imports.run(job), job, access, principal.id)
    return _ProgressResponse(lines, media_type=NDJSON, headers=_NO_BUFFERING)


_NO_BUFFERING = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class _ProgressResponse(StreamingResponse):
    """Closes the lines it streams however the stream ends: when the client has gone, the
    server's next write fails, and the import stops there instead of whenever the garbage
    collector finalizes the generator."""

    def __init__(self, lines: AsyncGenerator[bytes], **kwargs: Any) -> None:
        super().__init__(lines, **kwargs)
        self._lines = lines

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            with CancelScope(shield=True):
                await self._lines.aclose()


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def _next(events: Iterator[dict[str, Any]]) -> dict[str, Any] | None:
    return next(events, None)


async def _ndjson(
    events: Iterator[dict[str, Any]], job: PreparedImport, access: AccessService, actor: str
) -> AsyncGenerator[bytes]:
    """Each event as a line; a failure as a last `error` line. A client that goes away stops
    the import (closing the iterator discards what is half-copied)."""
    outcome, digest = "failed", None
    try:
        while True:
            event = await to_thread.run_sync(_next, events)
            if event is None:
                break
            if event.get("event") == "result":
                outcome, digest = "ok", event.get("digest")
            yield _line(event)
    except DockyardError as exc:
        yield _line({"event": "error", **envelope(exc.code.code, exc.message, exc.detail)})
    except Exception:
        log.exception("import from %s failed", job.source)
        yield _line({"event": "error", **envelope(ErrorCode.UNKNOWN.code, "internal error")})
    finally:
        with CancelScope(shield=True):
            await to_thread.run_sync(_close, events, job)
        access.audit.record(
            "image.import",
            actor,
            outcome,
            source=str(job.source),
            targets=[str(t) for t in job.targets],
            digest=digest,
        )


def _close(events: Iterator[dict[str, Any]], job: PreparedImport) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()
    job.close()
