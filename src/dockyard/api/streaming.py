"""Request bodies streamed to storage, and blob bodies streamed (or sent zero-copy) back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

from anyio import to_thread
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.errors import BlobUploadInvalid, SizeInvalid
from dockyard.registry.uploads import ChunkWriter

# Writes are batched: one thread hop per MiB keeps hashing and disk I/O off the event loop
# without paying a hop for every small network read.
WRITE_BATCH = 1024 * 1024


async def receive_body(request: Request, chunk: ChunkWriter, expected: int | None = None) -> int:
    """Stream the request body into `chunk`; returns how many bytes were written.

    One batch is hashed and written in a worker thread while the next one is received.
    """
    pending: list[bytes] = []
    pending_size = 0
    in_flight: asyncio.Task[None] | None = None
    try:
        async for data in request.stream():
            if not data:
                continue
            pending.append(data)
            pending_size += len(data)
            if pending_size >= WRITE_BATCH:
                if in_flight is not None:
                    await in_flight
                batch = b"".join(pending)
                in_flight = asyncio.ensure_future(to_thread.run_sync(chunk.write, batch))
                pending, pending_size = [], 0
        if in_flight is not None:
            await in_flight
            in_flight = None
    except ClientDisconnect as exc:
        raise BlobUploadInvalid("the client disconnected before the body was complete") from exc
    finally:
        if in_flight is not None:
            # Never leave a write running into a writer that the caller is about to abort.
            with contextlib.suppress(BaseException):
                await asyncio.shield(in_flight)
    if pending:
        await to_thread.run_sync(chunk.write, b"".join(pending))
    if expected is not None and chunk.written != expected:
        raise SizeInvalid(
            f"received {chunk.written} bytes, Content-Length said {expected}",
            detail={"received": chunk.written, "expected": expected},
        )
    return chunk.written


def content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise SizeInvalid(f"invalid Content-Length {value!r}") from None
    if length < 0:
        raise SizeInvalid(f"invalid Content-Length {value!r}")
    return length


class BlobResponse(Response):
    """A blob body: zero-copy (ASGI pathsend) when the server supports it, else streamed."""

    def __init__(
        self,
        headers: dict[str, str],
        status_code: int,
        path: Path | None,
        chunks: Iterator[bytes] | None,
        head: bool,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self._path = path
        self._chunks = chunks
        self._head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if self._head:
            await send({"type": "http.response.body", "body": b""})
            return
        if self._path is not None and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": str(self._path)})
            return
        if self._chunks is not None:
            async for block in iterate_in_threadpool(self._chunks):
                await send({"type": "http.response.body", "body": block, "more_body": True})
        elif self._path is not None:
            async for block in iterate_in_threadpool(_read_file(self._path)):
                await send({"type": "http.response.body", "body": block, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            yield block


def not_modified(request: Request, etag: str, headers: dict[str, str]) -> Response | None:
    """304 when the client already has this content (RFC 9110 If-None-Match)."""
    wanted = request.headers.get("if-none-match")
    if not wanted:
        return None
    tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
    if etag in tags or "*" in tags:
        kept = {
            k: v for k, v in headers.items() if k.lower() not in ("content-length", "content-type")
        }
        return Response(status_code=304, headers=kept)
    return None
