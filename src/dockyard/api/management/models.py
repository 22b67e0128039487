"""The management API's request and response bodies, and how the access service's rows
become them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockyard.access.service import AccessError, TokenPassword

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


# --- from the access service's rows ----------------------------------------------------------


def named(rows: list[dict[str, Any]], what: str, name: str) -> dict[str, Any]:
    """The row called `name`; a 404 when there is none."""
    for row in rows:
        if row["name"] == name:
            return row
    raise AccessError(f"{what} {name!r} not found", status=404)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _created(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value or 0), UTC)


def token_secret(secret: TokenPassword) -> Secret:
    return Secret(
        name=f"password{secret.slot}", value=secret.password, expiry=_time(secret.expires_at)
    )


def user_model(row: dict[str, Any]) -> User:
    return User(
        name=row["name"], kind=row["kind"], enabled=row["enabled"], created=_created(row["created"])
    )


def token_model(row: dict[str, Any]) -> Token:
    return Token(
        name=row["name"],
        scopeMap=row["scopeMap"],
        status=row["status"],
        created=_created(row["created"]),
        passwords=[
            TokenPasswordInfo(name=p["name"], expiry=_time(p["expiry"])) for p in row["passwords"]
        ],
    )


def admin_password_name(slot: int) -> str:
    return "password" if slot == 1 else f"password{slot}"
