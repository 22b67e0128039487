"""Who is calling the management API, and what the routes work with: the caller's principal
once it may read (`Reader`) or change (`Writer`) access control, and the services the routes
use, all taken from the one `Services` holder that `management_app` provides."""

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
from dockyard.tasks.service import TaskService
from dockyard.tiers.policies import PolicyService
from dockyard.webhooks import Webhooks


@dataclass(frozen=True, slots=True)
class Services:
    """What `management_app` was given: the one place the routes get their services from."""

    auth: Authenticator
    enforce: bool  # off on a registry without auth: everyone may manage, as `anonymous`
    webhooks: Webhooks | None = None
    registry: Registry | None = None
    tasks: TaskService | None = None


def services() -> Services:
    """Provided by `management_app` (through `dependency_overrides`) with the services it was
    built with; routes are module-level, so the app closes over its services here."""
    raise RuntimeError("the management routes run only in the app management_app builds")


ServicesDep = Annotated[Services, Depends(services)]


_TOKEN_ACTIONS = "management_token_actions"


def _caller(request: Request, context: ServicesDep) -> Principal:
    """Basic credentials (a password, or a refresh token with the null-GUID username), or an
    access token granted the management scope. A registry access token (what docker holds
    for a pull) is refused: it carries only the registry actions its scope names."""
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


def _reader(
    request: Request, context: ServicesDep, principal: Annotated[Principal, Depends(_caller)]
) -> Principal:
    if context.enforce:
        if not (_token_allows(request, "read") or _token_allows(request, "write")):
            raise Denied("the access token does not carry registry:management:read")
        context.auth.access.permissions.require_manage(principal, write=False)
    return principal


def _writer(
    request: Request, context: ServicesDep, principal: Annotated[Principal, Depends(_caller)]
) -> Principal:
    if context.enforce:
        if not _token_allows(request, "write"):
            raise Denied("the access token does not carry registry:management:write")
        context.auth.access.permissions.require_manage(principal, write=True)
    return principal


@dataclass(frozen=True, slots=True)
class RepositoryRights:
    """Checks a caller's rights on one repository, for routes whose right depends on the
    body or the query (quarantine, a build that pushes)."""

    context: Services

    def require(self, principal: Principal, repository: str, action: str) -> None:
        """Refuse (DENIED) a caller without `action` on `repository` (`*`: at registry
        scope)."""
        if not self.context.enforce:
            return
        rights = self.context.auth.access.permissions.rights(principal)
        allowed = (
            action in rights.registry_actions
            if repository == "*"
            else rights.allows(repository, action)
        )
        if not allowed:
            where = "the registry" if repository == "*" else repository
            raise Denied(f"{principal.id} may not {action.replace('_', ' ')} on {where}")


def _repository_rights(context: ServicesDep) -> RepositoryRights:
    return RepositoryRights(context)


def _lockout_guard(request: Request, context: ServicesDep) -> IpAddress | None:
    """The caller's address when the network rules govern its management calls (a registry
    without credentials, where no one is exempt): a change must not shut it out. None when
    credentials are on: those who may change the registry reach it wherever they are."""
    if context.enforce:
        return None
    address = request.scope.get("state", {}).get(CLIENT_ADDRESS_STATE)
    if address is None:
        return None
    assert isinstance(address, IPv4Address | IPv6Address)
    return address


def _auth(context: ServicesDep) -> Authenticator:
    return context.auth


def _access(context: ServicesDep) -> AccessService:
    return context.auth.access


def _users(context: ServicesDep) -> Users:
    return context.auth.access.users


def _roles(context: ServicesDep) -> Roles:
    return context.auth.access.roles


def _scope_maps(context: ServicesDep) -> ScopeMaps:
    return context.auth.access.scope_maps


def _tokens(context: ServicesDep) -> Tokens:
    return context.auth.access.tokens


def _admin(context: ServicesDep) -> AdminUser:
    return context.auth.access.admin


def _anonymous_pull(context: ServicesDep) -> AnonymousPull:
    return context.auth.access.anonymous_pull


def _registry(context: ServicesDep) -> Registry:
    registry = context.registry
    assert registry is not None, "the management API was built without the registry"
    return registry


def _policies(registry: Annotated[Registry, Depends(_registry)]) -> PolicyService:
    return registry.policies


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
RepositoryRightsDep = Annotated[RepositoryRights, Depends(_repository_rights)]
# The caller's address, when a network-rule change must not shut it out (see _lockout_guard).
LockoutGuard = Annotated[IpAddress | None, Depends(_lockout_guard)]
