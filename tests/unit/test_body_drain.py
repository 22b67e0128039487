"""The drain of unread request bodies (api/body_drain.py) against a scripted ASGI server:
what it reads, where it stops, and what the answer then says about the connection."""

from __future__ import annotations

import anyio
from starlette.types import Message, Receive, Scope, Send

from dockyard.api.body_drain import UnreadBodyDrain
from dockyard.api.middleware import AccessLogMiddleware

MIB = 1024 * 1024


def scope_of(length: int) -> Scope:
    return {
        "type": "http",
        "method": "PATCH",
        "path": "/v2/a/blobs/uploads/x",
        "headers": [(b"content-length", str(length).encode())],
        "query_string": b"",
    }


async def early_answer(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers without reading the body (as a 401 or a 404 does)."""
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def serve(chunks: int, limit: int) -> tuple[int, dict[bytes, bytes]]:
    """Run the app behind the drain and the access log; (chunks read, answer headers)."""
    read = 0
    answers: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * MIB, "more_body": read < chunks}

    async def send(message: Message) -> None:
        answers.append(message)

    app = AccessLogMiddleware(UnreadBodyDrain(early_answer, limit), json_format=True)
    anyio.run(app, scope_of(chunks * MIB), receive, send)
    return read, dict(answers[0]["headers"])


def test_a_body_within_the_cap_is_read_before_the_answer() -> None:
    read, headers = serve(chunks=4, limit=8 * MIB)
    assert read == 4
    assert b"connection" not in headers


def test_a_body_past_the_cap_is_left_and_the_connection_closed() -> None:
    read, headers = serve(chunks=64, limit=8 * MIB)
    assert read == 9  # stops once more than the cap was read, not at the end of the body
    assert headers[b"connection"] == b"close"


def test_draining_off() -> None:
    read, headers = serve(chunks=4, limit=0)
    assert read == 0
    assert headers[b"connection"] == b"close"
