"""The gate in front of the registry API: who is calling (access/authenticator.py, from the
Authorization header), and may they do this? The caller is left in the request's state.
Refusals follow the Docker token authentication spec: 401 with a `Bearer` challenge that names
the scope the request needed, or 403 DENIED when a known identity is not allowed.
"""

from __future__ import annotations

import re

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.access.authenticator import Authenticator
from dockyard.access.caller import Caller
from dockyard.access.decisions import Requirement
from dockyard.api.errors import error_response
from dockyard.api.routes import requirement
from dockyard.api.uploads import UPLOAD_START_STATE, read_upload_start
from dockyard.errors import Denied, DockyardError, Unauthorized
from dockyard.spec.scopes import challenge
from dockyard.spec.upload_query import UploadStart

_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


def realm(public_url: str, service: str, headers: Headers, scheme: str) -> str:
    """Where a 401 challenge sends the client for a token: the configured public URL. Without
    one, the host the client named (only a well-formed one; it decides nothing but where
    that client itself is sent, while the token's audience stays the configured service)."""
    if public_url:
        return f"{public_url}/oauth2/token"
    host = headers.get("host", "")
    if not _HOST_RE.match(host):
        host = service
    proto = headers.get("x-forwarded-proto", scheme)
    if proto not in ("http", "https"):
        proto = scheme
    return f"{proto}://{host}/oauth2/token"


class AuthGate:
    """ASGI middleware guarding /v2 and /acr/v1."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.auth = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        need = requirement(scope["method"], scope["path"])
        if need is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = (scope.get("client") or ("-", 0))[0]
        audit = self.auth.access.audit
        try:
            caller = await to_thread.run_sync(
                self.auth.identify, headers.get("authorization", ""), client
            )
        except DockyardError as exc:
            audit.record("authorize", "unknown", "denied", path=scope["path"], reason=exc.message)
            await self._refuse(scope, send, need, exc, headers)
            return
        if not caller.may(need):
            audit.record(
                "authorize",
                caller.principal.id,
                "denied",
                method=scope["method"],
                path=scope["path"],
                needed=need.scope,
            )
            if caller.via == "basic" and caller.principal.kind != "anonymous":
                error: DockyardError = Denied(f"{caller.principal.id} may not do this")
            else:
                error = Unauthorized(
                    "authentication required" if caller.via == "none" else "insufficient scope"
                )
            await self._refuse(scope, send, need, error, headers, caller.via == "bearer")
            return
        if audit.records(scope["method"]):
            audit.record(
                "authorize",
                caller.principal.id,
                "allowed",
                method=scope["method"],
                path=scope["path"],
                via=caller.via,
            )
        state = scope.setdefault("state", {})
        state["caller"] = caller
        if need.kind == "repository" and scope["method"] == "POST":
            try:
                start = read_upload_start(scope.get("query_string", b""))
            except DockyardError as exc:
                await self._refuse(scope, send, need, exc, headers)
                return
            state[UPLOAD_START_STATE] = self._checked_mount(start, caller)
        await self.app(scope, receive, send)

    @staticmethod
    def _checked_mount(start: UploadStart, caller: Caller) -> UploadStart:
        """A mount from a repository the caller may not read becomes a plain upload. So does a
        mount without `from` (the blob may be in any repository) unless the caller reads
        every repository: distribution-spec 1.1 lets a registry answer a mount it does not do
        with an upload session, and searching for a repository that holds the blob and that
        the caller may read would tell which repositories hold it."""
        if start.mount is None:
            return start
        if start.source is not None:
            allowed = caller.can_read(start.source)
        else:
            allowed = caller.reads_everything()
        return start if allowed else start.without_mount()

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        need: Requirement,
        error: DockyardError,
        headers: Headers,
        insufficient: bool = False,
    ) -> None:
        extra: dict[str, str] = {}
        if error.status == 401:
            extra["WWW-Authenticate"] = challenge(
                realm(
                    self.auth.public_url, self.auth.service, headers, scope.get("scheme", "http")
                ),
                self.auth.service,
                need.scope,
                "insufficient_scope" if insufficient else None,
            )
        response = error_response(error, head=scope["method"] == "HEAD", headers=extra)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})
