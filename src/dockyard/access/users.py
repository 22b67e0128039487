"""Users and service principals: created with one generated password, enabled or disabled,
deleted with their passwords and role assignments."""

from __future__ import annotations

import time

from sqlalchemy import delete, select, update

from dockyard.access.audit import AuditLog
from dockyard.access.model import User, UserKind
from dockyard.access.names import check_user_name
from dockyard.access.principals import Principal
from dockyard.access.rows import bump_generation, require_named, set_password
from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import credentials, role_assignments, tokens, users

_COLUMNS = (users.c.name, users.c.kind, users.c.enabled, users.c.created_at)


def _credential_id(name: str) -> str:
    return Principal("user", name).id


class Users:
    def __init__(self, db: Database, audit: AuditLog, admin_username: str) -> None:
        self._db = db
        self._audit = audit
        self._admin_username = admin_username

    def create(self, name: str, kind: str, actor: str) -> str:
        """Create a user or service principal; returns its password (the only copy)."""
        check_user_name(name)
        try:
            user_kind = UserKind(kind)
        except ValueError:
            raise Invalid("kind is user or service-principal") from None
        if name == self._admin_username:
            raise Conflict(f"{name!r} is the admin user's name")
        with self._db.write() as conn:
            if conn.execute(select(tokens.c.name).where(tokens.c.name == name)).first() is not None:
                raise Conflict(f"{name!r} is a token's name")
            if not insert_ignore(
                conn,
                users,
                {"name": name, "kind": user_kind.value, "enabled": True, "created_at": time.time()},
            ):
                raise Conflict(f"user {name!r} exists")
            password = set_password(conn, _credential_id(name), 1)
        self._audit.record("user.create", actor, "ok", user=name, kind=user_kind.value)
        return password

    def reset_password(self, name: str, actor: str) -> str:
        """Replace the user's password with a new generated one; tokens issued before stop."""
        with self._db.write() as conn:
            require_named(conn, users, name, "user")
            password = set_password(conn, _credential_id(name), 1)
            bump_generation(conn, users, name)
        self._audit.record("credential.regenerate", actor, "ok", principal=_credential_id(name))
        return password

    def set_enabled(self, name: str, enabled: bool, actor: str) -> None:
        with self._db.write() as conn:
            require_named(conn, users, name, "user")
            conn.execute(update(users).where(users.c.name == name).values(enabled=enabled))
            if not enabled:
                bump_generation(conn, users, name)
        self._audit.record("user.enable" if enabled else "user.disable", actor, "ok", user=name)

    def delete(self, name: str, actor: str) -> None:
        """Delete a user with its password and role assignments."""
        with self._db.write() as conn:
            require_named(conn, users, name, "user")
            conn.execute(delete(users).where(users.c.name == name))
            conn.execute(delete(credentials).where(credentials.c.principal == _credential_id(name)))
            conn.execute(delete(role_assignments).where(role_assignments.c.principal == name))
        self._audit.record("user.delete", actor, "ok", user=name)

    def get(self, name: str) -> User:
        with self._db.read() as conn:
            row = conn.execute(select(*_COLUMNS).where(users.c.name == name)).first()
        if row is None:
            raise NotFound(f"user {name!r} not found")
        return User(row[0], UserKind(row[1]), bool(row[2]), float(row[3]))

    def all(self) -> list[User]:
        with self._db.read() as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(users.c.name)).all()
        return [User(n, UserKind(k), bool(e), float(c)) for n, k, e, c in rows]
