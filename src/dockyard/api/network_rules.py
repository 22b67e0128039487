"""The network rules at the HTTP edge: who the client is (the direct peer, or behind trusted
proxies the `X-Forwarded-For` entry they vouch for), and the 403 DENIED that a client the
rules refuse gets from every endpoint but `/healthz`, before any credential is looked at.

The management API is the exception, as ACR leaves its management plane (ARM) outside
network rules: a refused client still reaches `/api/v1` with credentials that may change
the registry (`manage_write`: Owner, Contributor, the admin user), so that an operator
cannot lock themselves out. Anyone else gets the same 403 there too."""

from __future__ import annotations

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.access.audit import AuditLog
from dockyard.access.authenticator import Authenticator
from dockyard.access.decisions import management_claims
from dockyard.access.rights import MANAGE_WRITE
from dockyard.access.run_identity import RUN_KIND
from dockyard.api.errors import error_response
from dockyard.errors import Denied, DockyardError
from dockyard.registry.network_rules import NetworkRuleService
from dockyard.spec.forwarded import forwarded_client
from dockyard.spec.ip_ranges import AddressSet, IpAddress, parse_address

UNGUARDED_PATHS = frozenset({"/healthz"})  # liveness probes of load balancers
MANAGEMENT_PREFIX = "/api/v1"
CLIENT_ADDRESS_STATE = "client_address"


def is_management(path: str) -> bool:
    return path == MANAGEMENT_PREFIX or path.startswith(MANAGEMENT_PREFIX + "/")


def not_allowed(address: IpAddress | None) -> Denied:
    shown = str(address) if address is not None else "unknown"
    return Denied(f"client with IP '{shown}' is not allowed access", detail={"client_ip": shown})


class ClientAddress:
    """The client's address from the ASGI scope; behind trusted proxies, from the
    X-Forwarded-For entries they wrote, which then replaces the scope's client (so logs,
    login throttling and rates name the client, not the proxy)."""

    def __init__(self, trusted_proxies: AddressSet) -> None:
        self.trusted = trusted_proxies

    def resolve(self, scope: Scope) -> IpAddress | None:
        client = scope.get("client")
        peer = parse_address(str(client[0])) if client else None
        if not self.trusted or peer is None or peer not in self.trusted:
            return peer
        forwarded = [
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
        ]
        address = forwarded_client(peer, forwarded, self.trusted)
        if address is not None and address != peer:
            scope["client"] = (str(address), 0)
        return address


class NetworkRuleGate:
    def __init__(
        self,
        app: ASGIApp,
        rules: NetworkRuleService,
        clients: ClientAddress,
        auth: Authenticator | None,
        audit: AuditLog,
    ) -> None:
        self.app = app
        self.rules = rules
        self.clients = clients
        self.auth = auth
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = self.clients.resolve(scope)
        scope.setdefault("state", {})[CLIENT_ADDRESS_STATE] = address
        path = scope["path"]
        if path in UNGUARDED_PATHS:
            await self.app(scope, receive, send)
            return
        rules = await to_thread.run_sync(self.rules.current)
        if rules.allows(address):
            await self.app(scope, receive, send)
            return
        if is_management(path) and self.auth is not None:
            headers = Headers(scope=scope)
            shown = str(address) if address is not None else "-"
            if await to_thread.run_sync(self._may_manage, self.auth, headers, shown):
                await self.app(scope, receive, send)
                return
        error = not_allowed(address)
        self.audit.record(
            "network", "unknown", "denied", client=error.detail["client_ip"], path=path
        )
        response = error_response(error, head=scope["method"] == "HEAD")
        await response(scope, receive, send)

    @staticmethod
    def _may_manage(auth: Authenticator, headers: Headers, client: str) -> bool:
        """Whether the credentials are those of someone who may change the registry (and,
        for an access token, one granted registry:management:write)."""
        try:
            caller = auth.identify(headers.get("authorization", ""), client)
        except DockyardError:
            return False
        if caller.principal.kind in ("anonymous", RUN_KIND):
            return False
        if caller.via == "bearer" and "write" not in management_claims(caller.access):
            return False
        return MANAGE_WRITE in auth.access.permissions.rights(caller.principal).registry_actions
