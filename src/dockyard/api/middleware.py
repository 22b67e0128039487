"""Per-request access log (one line, human or JSON), Prometheus request metrics, and the
headers every answer carries (request id, API version, `Connection: close` after an unread
request body)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard import telemetry
from dockyard.api.body_drain import declared_body

access_log = logging.getLogger("dockyard.access")

# Every /v2 answer names the API version, as the Docker Registry HTTP API v2 does.
API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")

REQUESTS = Counter(
    "dockyard_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"]
)
LATENCY = Histogram(
    "dockyard_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BYTES_SENT = Counter(
    "dockyard_http_response_bytes_total", "Body bytes sent (streamed bodies)", ["endpoint"]
)

_ENDPOINTS = [
    ("uploads", re.compile(r"^/v2/.+/blobs/uploads/")),
    ("blobs", re.compile(r"^/v2/.+/blobs/[^/]+$")),
    ("manifests", re.compile(r"^/v2/.+/manifests/[^/]+$")),
    ("tags", re.compile(r"^/v2/.+/tags/list$")),
    ("referrers", re.compile(r"^/v2/.+/referrers/[^/]+$")),
    ("catalog", re.compile(r"^/v2/_catalog$")),
    ("base", re.compile(r"^/v2/?$")),
]


def endpoint_of(path: str) -> str:
    for label, pattern in _ENDPOINTS:
        if pattern.match(path):
            return label
    return path if path in ("/healthz", "/metrics") else "other"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, json_format: bool) -> None:
        self.app = app
        self.json_format = json_format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        extra_headers = [(b"x-request-id", request_id.encode())]
        if scope["path"].startswith("/v2"):
            extra_headers.append(API_VERSION)
        body_unread = declared_body(scope)

        async def receive_wrapper() -> Message:
            nonlocal body_unread
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_unread = False
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [*message.get("headers", []), *extra_headers]
                if body_unread and not any(name == b"connection" for name, _ in headers):
                    # Answered before the request body was read (an early error): the rest
                    # of the body is still on the connection, so it cannot carry another request.
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_wrapper if body_unread else receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            path = scope["path"]
            endpoint = endpoint_of(path)
            telemetry.record(lambda: REQUESTS.labels(method, endpoint, str(status)).inc())
            telemetry.record(lambda: LATENCY.labels(method, endpoint).observe(elapsed))
            if sent:
                telemetry.record(lambda: BYTES_SENT.labels(endpoint).inc(sent))
            self._log(scope, method, path, status, elapsed, request_id)

    def _log(
        self, scope: Scope, method: str, path: str, status: int, elapsed: float, request_id: str
    ) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client") or ("-", 0)
        if self.json_format:
            access_log.info(
                json.dumps(
                    {
                        "ts": time.time(),
                        "request_id": request_id,
                        "client": client[0],
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                )
            )
        else:
            access_log.info(
                '%s "%s %s" %d %.1fms id=%s',
                client[0],
                method,
                path,
                status,
                elapsed * 1000,
                request_id,
            )
