"""Who is calling the management API, and what the routes work with: the caller's principal
once it may read (`Reader`) or change (`Writer`) access control, and the parts of the access
wing the routes use."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated

from fastapi import Depends, Request

from dockyard.access.admin import AdminUser
from dockyard.access.anonymous_pull import AnonymousPull
from dockyard.access.authenticator import Authenticator
from dockyard.access.decisions import management_claims
from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.roles import Roles
from dockyard.access.run_identity import RUN_KIND
from dockyard.access.scope_maps import ScopeMaps
from dockyard.access.service import AccessService
from dockyard.access.tokens import Tokens
from dockyard.access.users import Users
from dockyard.api.network_rules import CLIENT_ADDRESS_STATE
from dockyard.errors import Denied, Unauthorized
from dockyard.registry.core import Registry
from dockyard.spec.ip_ranges import IpAddress
from dockyard.tiers.policies import PolicyService
from dockyard.webhooks import Webhooks


@dataclass(frozen=True, slots=True)
class ManagementContext:
    auth: Authenticator
    enforce: bool  # off on a registry without auth: everyone may manage, as `anonymous`
    webhooks: Webhooks | None = None
    registry: Registry | None = None


def _context(request: Request) -> ManagementContext:
    context = request.app.state.management
    assert isinstance(context, ManagementContext)
    return context


_TOKEN_ACTIONS = "management_token_actions"


def _caller(request: Request) -> Principal:
    """Basic credentials (a password, or a refresh token with the null-GUID username), or an
    access token granted the management scope. A registry access token (what docker holds
    for a pull) is refused: it carries only the registry actions its scope names."""
    context = _context(request)
    if not context.enforce:
        return ANONYMOUS
    client = request.client.host if request.client else "-"
    found = context.auth.identify(request.headers.get("authorization", ""), client)
    if found.principal.kind == "anonymous":
        raise Unauthorized("credentials required")
    if found.principal.kind == RUN_KIND:
        # A task run's credential opens its repositories, never the management API.
        context.auth.access.audit.record("manage", found.principal.id, "denied")
        raise Denied(f"{found.principal.id} is a task run's credential: no management rights")
    if found.via == "bearer":
        held = management_claims(found.access)
        if not held:
            raise Unauthorized(
                "this access token is not for the management API: use Basic credentials, a "
                "refresh token, or an access token for scope registry:management:*"
            )
        setattr(request.state, _TOKEN_ACTIONS, held)
    return found.principal


def _token_allows(request: Request, action: str) -> bool:
    """Whether the caller's access token (if it came with one) carries `action`."""
    held: frozenset[str] | None = getattr(request.state, _TOKEN_ACTIONS, None)
    return held is None or action in held


def _reader(request: Request, principal: Annotated[Principal, Depends(_caller)]) -> Principal:
    context = _context(request)
    if context.enforce:
        if not (_token_allows(request, "read") or _token_allows(request, "write")):
            raise Denied("the access token does not carry registry:management:read")
        context.auth.access.permissions.require_manage(principal, write=False)
    return principal


def _writer(request: Request, principal: Annotated[Principal, Depends(_caller)]) -> Principal:
    context = _context(request)
    if context.enforce:
        if not _token_allows(request, "write"):
            raise Denied("the access token does not carry registry:management:write")
        context.auth.access.permissions.require_manage(principal, write=True)
    return principal


def require_repository_action(
    request: Request, principal: Principal, repository: str, action: str
) -> None:
    """Refuse (DENIED) a caller without `action` on `repository` (`*`: at registry scope)."""
    context = _context(request)
    if not context.enforce:
        return
    rights = context.auth.access.permissions.rights(principal)
    allowed = (
        action in rights.registry_actions
        if repository == "*"
        else rights.allows(repository, action)
    )
    if not allowed:
        where = "the registry" if repository == "*" else repository
        raise Denied(f"{principal.id} may not {action.replace('_', ' ')} on {where}")


def lockout_guard(request: Request) -> IpAddress | None:
    """The caller's address when the network rules govern its management calls (a registry
    without credentials, where no one is exempt): a change must not shut it out. None when
    credentials are on: those who may change the registry reach it wherever they are."""
    if _context(request).enforce:
        return None
    address = request.scope.get("state", {}).get(CLIENT_ADDRESS_STATE)
    if address is None:
        return None
    assert isinstance(address, IPv4Address | IPv6Address)
    return address


def _auth(request: Request) -> Authenticator:
    return _context(request).auth


def _access(request: Request) -> AccessService:
    return _context(request).auth.access


def _users(request: Request) -> Users:
    return _access(request).users


def _roles(request: Request) -> Roles:
    return _access(request).roles


def _scope_maps(request: Request) -> ScopeMaps:
    return _access(request).scope_maps


def _tokens(request: Request) -> Tokens:
    return _access(request).tokens


def _admin(request: Request) -> AdminUser:
    return _access(request).admin


def _anonymous_pull(request: Request) -> AnonymousPull:
    return _access(request).anonymous_pull


def _registry(request: Request) -> Registry:
    registry = _context(request).registry
    assert registry is not None, "the management API was built without the registry"
    return registry


def _policies(request: Request) -> PolicyService:
    return _registry(request).policies


Reader = Annotated[Principal, Depends(_reader)]
Writer = Annotated[Principal, Depends(_writer)]
Auth = Annotated[Authenticator, Depends(_auth)]
Access = Annotated[AccessService, Depends(_access)]
UsersDep = Annotated[Users, Depends(_users)]
RolesDep = Annotated[Roles, Depends(_roles)]
ScopeMapsDep = Annotated[ScopeMaps, Depends(_scope_maps)]
TokensDep = Annotated[Tokens, Depends(_tokens)]
AdminDep = Annotated[AdminUser, Depends(_admin)]
AnonymousPullDep = Annotated[AnonymousPull, Depends(_anonymous_pull)]
RegistryDep = Annotated[Registry, Depends(_registry)]
Policies = Annotated[PolicyService, Depends(_policies)]
Caller = Annotated[Principal, Depends(_caller)]
