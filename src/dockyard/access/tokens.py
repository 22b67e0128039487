"""Repository-scoped tokens: bound to a scope map, with two passwords that may expire."""

from __future__ import annotations

import time

from sqlalchemy import delete, select, update

from dockyard.access.audit import AuditLog
from dockyard.access.model import NewPassword, PasswordExpiry, Token, TokenStatus
from dockyard.access.names import check_name
from dockyard.access.principals import Principal
from dockyard.access.rows import bump_generation, require_named, set_password
from dockyard.access.scope_maps import ScopeMaps
from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import credentials, tokens, users
from dockyard.tiers.limits import check_tier_room

SLOTS = (1, 2)

_COLUMNS = (tokens.c.name, tokens.c.scope_map, tokens.c.enabled, tokens.c.created_at)
_EXPIRIES = select(credentials.c.principal, credentials.c.slot, credentials.c.expires_at)


def _credential_id(name: str) -> str:
    return Principal("token", name).id


class Tokens:
    def __init__(
        self, db: Database, audit: AuditLog, admin_username: str, scope_maps: ScopeMaps
    ) -> None:
        self._db = db
        self._audit = audit
        self._admin_username = admin_username
        self._scope_maps = scope_maps

    def create(self, name: str, scope_map: str, enabled: bool, actor: str) -> list[NewPassword]:
        """Create a token with its two passwords (returned: their only copy)."""
        check_name("token", name)
        if name == self._admin_username:
            raise Conflict(f"{name!r} is the admin user's name")
        if not self._scope_maps.exists(scope_map):
            raise NotFound(f"scope map {scope_map!r} not found")
        with self._db.write() as conn:
            if conn.execute(select(users.c.name).where(users.c.name == name)).first() is not None:
                raise Conflict(f"{name!r} is a user's name")
            check_tier_room(conn, "tokens")
            if not insert_ignore(
                conn,
                tokens,
                {
                    "name": name,
                    "scope_map": scope_map,
                    "enabled": enabled,
                    "created_at": time.time(),
                },
            ):
                raise Conflict(f"token {name!r} exists")
            passwords = [
                NewPassword(slot, set_password(conn, _credential_id(name), slot)) for slot in SLOTS
            ]
        self._audit.record("token.create", actor, "ok", token=name, scope_map=scope_map)
        return passwords

    def generate_password(
        self, name: str, slot: int, expires_at: float | None, actor: str
    ) -> NewPassword:
        """(Re)generate password `slot`; tokens issued before stop working."""
        if slot not in SLOTS:
            raise Invalid("a token has passwords 1 and 2")
        with self._db.write() as conn:
            require_named(conn, tokens, name, "token")
            password = set_password(conn, _credential_id(name), slot, expires_at)
            bump_generation(conn, tokens, name)
        self._audit.record(
            "credential.regenerate", actor, "ok", principal=_credential_id(name), slot=slot
        )
        return NewPassword(slot, password, expires_at)

    def set_enabled(self, name: str, enabled: bool, actor: str) -> None:
        with self._db.write() as conn:
            require_named(conn, tokens, name, "token")
            conn.execute(update(tokens).where(tokens.c.name == name).values(enabled=enabled))
            if not enabled:
                bump_generation(conn, tokens, name)
        self._audit.record("token.enable" if enabled else "token.disable", actor, "ok", token=name)

    def delete(self, name: str, actor: str) -> None:
        with self._db.write() as conn:
            require_named(conn, tokens, name, "token")
            conn.execute(delete(tokens).where(tokens.c.name == name))
            conn.execute(delete(credentials).where(credentials.c.principal == _credential_id(name)))
        self._audit.record("token.delete", actor, "ok", token=name)

    def scope_map_of(self, name: str) -> str | None:
        """The scope map token `name` is bound to; None when there is no such token."""
        with self._db.read() as conn:
            row = conn.execute(select(tokens.c.scope_map).where(tokens.c.name == name)).first()
        return None if row is None else str(row[0])

    def get(self, name: str) -> Token:
        with self._db.read() as conn:
            row = conn.execute(select(*_COLUMNS).where(tokens.c.name == name)).first()
            if row is None:
                raise NotFound(f"token {name!r} not found")
            expiries = conn.execute(
                _EXPIRIES.where(credentials.c.principal == _credential_id(name))
            ).all()
        return _token(row, {(p, s): e for p, s, e in expiries})

    def all(self) -> list[Token]:
        with self._db.read() as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(tokens.c.name)).all()
            expiries = conn.execute(_EXPIRIES.where(credentials.c.principal.like("token:%"))).all()
        found = {(p, s): e for p, s, e in expiries}
        return [_token(row, found) for row in rows]


def _token(
    row: tuple[str, str, bool, float], expiries: dict[tuple[str, int], float | None]
) -> Token:
    name, scope_map, enabled, created_at = row
    credential_id = _credential_id(name)
    return Token(
        name,
        scope_map,
        TokenStatus.ENABLED if enabled else TokenStatus.DISABLED,
        float(created_at),
        tuple(
            PasswordExpiry(slot, expiries[(credential_id, slot)])
            for slot in SLOTS
            if (credential_id, slot) in expiries
        ),
    )
