"""Reading the rest of a request body that the answer did not need, before answering.

An answer sent before the body was read (a 401 to an unauthenticated PATCH, a 404 for an
unknown upload) leaves the client still sending. The server then closes the connection with
unread bytes in its buffer, which resets it: over TLS the client sees `SSLEOFError` (or a
reset) instead of the answer, and clients that only read the answer once they sent the whole
body (the Azure SDK's chunked upload, requests/urllib3) fail rather than retry with a token.
So an early answer first reads and discards the rest of the body, up to a cap in bytes and
time; past it, the answer goes out at once with `Connection: close`, as before.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A client that dribbles its body cannot hold an answer longer than this.
DRAIN_SECONDS = 30.0


def declared_body(scope: Scope) -> bool:
    """Whether the request announces a body (a non-zero length, or chunked encoding)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _Body:
    """How far one request's body has been received, by the app or by the drain."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._lock = anyio.Lock()
        self.complete = False

    async def receive(self) -> Message:
        """The app's receive: one at a time while the body is still arriving."""
        if self.complete:
            # Past the body only a disconnect comes; the drain never waits for that.
            return await self._receive()
        async with self._lock:
            return await self._next()

    async def _next(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.complete = True
        return message

    async def drain(self, limit: int) -> None:
        """Read and discard the rest of the body, unless more than `limit` bytes remain."""
        discarded = 0
        with anyio.move_on_after(DRAIN_SECONDS):
            while not self.complete and discarded <= limit:
                async with self._lock:
                    if self.complete:
                        return
                    message = await self._next()
                discarded += len(message.get("body", b""))


class UnreadBodyDrain:
    """ASGI middleware: before an answer starts, read what is left of the request body
    (at most `limit_bytes`; 0 turns draining off)."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit_bytes or not declared_body(scope):
            await self.app(scope, receive, send)
            return
        body = _Body(receive)

        async def send_after_drain(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.complete:
                await body.drain(self.limit_bytes)
            await send(message)

        await self.app(scope, body.receive, send_after_drain)
