"""What the access parts return: users, role assignments, scope maps, tokens and new
passwords, as typed values (the wire JSON is shaped at the API edge)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UserKind(StrEnum):
    USER = "user"
    SERVICE_PRINCIPAL = "service-principal"


class TokenStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    kind: UserKind
    enabled: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    principal: str
    role: str
    scope: str


@dataclass(frozen=True, slots=True)
class ScopeMap:
    name: str
    description: str
    actions: tuple[str, ...]  # repositories/<repository or prefix/*>/<action>
    system: bool


@dataclass(frozen=True, slots=True)
class PasswordExpiry:
    """One of a token's passwords, without its value: which slot, and when it expires."""

    slot: int
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    scope_map: str
    status: TokenStatus
    created_at: float
    passwords: tuple[PasswordExpiry, ...]


@dataclass(frozen=True, slots=True)
class NewPassword:
    """A password just generated: shown once, kept only as a hash."""

    slot: int
    password: str
    expires_at: float | None = None
