"""The management API's request and response bodies, and how the access wing's values
become them."""

from __future__ import annotations

from datetime import UTC, datetime

from dockyard.access import model

# The bodies live in dockyard.wire (shared with the CLI); imported here for the routes.
from dockyard.wire.access import (
    AdminCredentials,
    AdminStatus,
    AnonymousPull,
    RoleAssignment,
    RotatedKey,
    ScopeMap,
    ScopeMapCreate,
    ScopeMapUpdate,
    Secret,
    Token,
    TokenCreate,
    TokenCreated,
    TokenCredentialRequest,
    TokenCredentials,
    TokenPasswordInfo,
    User,
    UserCreate,
    UserCreated,
    UserPassword,
)
from dockyard.wire.errors import ErrorDetail, ErrorEnvelope

__all__ = [
    "AdminCredentials",
    "AdminStatus",
    "AnonymousPull",
    "ErrorDetail",
    "ErrorEnvelope",
    "RoleAssignment",
    "RotatedKey",
    "ScopeMap",
    "ScopeMapCreate",
    "ScopeMapUpdate",
    "Secret",
    "Token",
    "TokenCreate",
    "TokenCreated",
    "TokenCredentialRequest",
    "TokenCredentials",
    "TokenPasswordInfo",
    "User",
    "UserCreate",
    "UserCreated",
    "UserPassword",
]


# --- from the access wing's values ------------------------------------------------------------


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _created(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def token_password_name(slot: int) -> str:
    return f"password{slot}"


def admin_password_name(slot: int) -> str:
    return "password" if slot == 1 else f"password{slot}"


def token_secret(secret: model.NewPassword) -> Secret:
    return Secret(
        name=token_password_name(secret.slot),
        value=secret.password,
        expiry=_time(secret.expires_at),
    )


def admin_secret(secret: model.NewPassword) -> Secret:
    return Secret(name=admin_password_name(secret.slot), value=secret.password)


def user_model(user: model.User) -> User:
    return User(
        name=user.name,
        kind=user.kind.value,
        enabled=user.enabled,
        created=_created(user.created_at),
    )


def role_model(assignment: model.RoleAssignment) -> RoleAssignment:
    return RoleAssignment(
        principal=assignment.principal, role=assignment.role, scope=assignment.scope
    )


def scope_map_model(scope_map: model.ScopeMap) -> ScopeMap:
    return ScopeMap(
        name=scope_map.name,
        description=scope_map.description,
        actions=list(scope_map.actions),
        system=scope_map.system,
    )


def token_model(token: model.Token) -> Token:
    return Token(
        name=token.name,
        scopeMap=token.scope_map,
        status=token.status.value,
        created=_created(token.created_at),
        passwords=[
            TokenPasswordInfo(name=token_password_name(p.slot), expiry=_time(p.expires_at))
            for p in token.passwords
        ],
    )
