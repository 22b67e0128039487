"""What the services are told about the HTTP request behind a change (for event payloads)."""

from __future__ import annotations

from starlette.requests import Request

from dockyard.events import RequestInfo


def request_info(request: Request) -> RequestInfo:
    state = request.scope.get("state", {})
    return RequestInfo(
        id=str(state.get("request_id", "")),
        host=request.headers.get("host", ""),
        method=request.method,
        useragent=request.headers.get("user-agent", ""),
    )
