"""Who is calling the management API, and what the routes work with: the caller's principal
once it may read (`Reader`) or change (`Writer`) access control, and the access service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.run_identity import RUN_KIND
from dockyard.access.service import AccessService
from dockyard.api.auth import Authenticator
from dockyard.errors import Denied, Unauthorized
from dockyard.registry.core import Registry
from dockyard.registry.policies import PolicyService
from dockyard.webhooks.service import WebhookService


@dataclass(frozen=True, slots=True)
class ManagementContext:
    auth: Authenticator
    enforce: bool  # off on a registry without auth: everyone may manage, as `anonymous`
    webhooks: WebhookService | None = None
    registry: Registry | None = None


def _context(request: Request) -> ManagementContext:
    context = request.app.state.management
    assert isinstance(context, ManagementContext)
    return context


def _caller(request: Request) -> Principal:
    context = _context(request)
    if not context.enforce:
        return ANONYMOUS
    client = request.client.host if request.client else "-"
    found = context.auth.identify(request.headers, client)
    if found.principal.kind == "anonymous":
        raise Unauthorized("credentials required")
    if found.principal.kind == RUN_KIND:
        # A task run's credential opens its repositories, never the management API.
        context.auth.access.audit.record("manage", found.principal.id, "denied")
        raise Denied(f"{found.principal.id} is a task run's credential: no management rights")
    return found.principal


def _reader(request: Request, principal: Annotated[Principal, Depends(_caller)]) -> Principal:
    context = _context(request)
    if context.enforce:
        context.auth.access.require_manage(principal, write=False)
    return principal


def _writer(request: Request, principal: Annotated[Principal, Depends(_caller)]) -> Principal:
    context = _context(request)
    if context.enforce:
        context.auth.access.require_manage(principal, write=True)
    return principal


def require_repository_action(
    request: Request, principal: Principal, repository: str, action: str
) -> None:
    """Refuse (DENIED) a caller without `action` on `repository` (`*`: at registry scope)."""
    context = _context(request)
    if not context.enforce:
        return
    rights = context.auth.access.rights(principal)
    allowed = (
        action in rights.registry_actions
        if repository == "*"
        else rights.allows(repository, action)
    )
    if not allowed:
        where = "the registry" if repository == "*" else repository
        raise Denied(f"{principal.id} may not {action.replace('_', ' ')} on {where}")


def _auth(request: Request) -> Authenticator:
    return _context(request).auth


def _access(request: Request) -> AccessService:
    return _context(request).auth.access


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
RegistryDep = Annotated[Registry, Depends(_registry)]
Policies = Annotated[PolicyService, Depends(_policies)]
Caller = Annotated[Principal, Depends(_caller)]
