"""Role assignments: a user's role over the registry (`*`), a repository, or `prefix/*`."""

from __future__ import annotations

import time

from sqlalchemy import delete, select

from dockyard.access.audit import AuditLog
from dockyard.access.model import RoleAssignment
from dockyard.access.rights import ROLES, InvalidScopeMapAction, parse_scope_map_action
from dockyard.access.rows import require_named
from dockyard.errors import Invalid, NotFound
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import role_assignments, users


def _check_scope(scope: str) -> None:
    try:
        parse_scope_map_action(f"repositories/{scope}/content/read")
    except InvalidScopeMapAction as exc:
        raise Invalid(f"invalid scope {scope!r}: '*', a repository, or 'prefix/*'") from exc


class Roles:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def assign(self, principal: str, role: str, scope: str, actor: str) -> RoleAssignment:
        if role not in ROLES:
            raise Invalid(f"unknown role {role!r}; roles: {', '.join(sorted(ROLES))}")
        _check_scope(scope)
        with self._db.write() as conn:
            require_named(conn, users, principal, "user")
            insert_ignore(
                conn,
                role_assignments,
                {"principal": principal, "role": role, "scope": scope, "created_at": time.time()},
            )
        self._audit.record("role.assign", actor, "ok", principal=principal, role=role, scope=scope)
        return RoleAssignment(principal, role, scope)

    def remove(self, principal: str, role: str, scope: str, actor: str) -> None:
        with self._db.write() as conn:
            removed = conn.execute(
                delete(role_assignments).where(
                    role_assignments.c.principal == principal,
                    role_assignments.c.role == role,
                    role_assignments.c.scope == scope,
                )
            ).rowcount
        if not removed:
            raise NotFound("no such role assignment")
        self._audit.record("role.remove", actor, "ok", principal=principal, role=role, scope=scope)

    def all(self, principal: str | None = None) -> list[RoleAssignment]:
        """Every role assignment, or only `principal`'s."""
        query = select(
            role_assignments.c.principal, role_assignments.c.role, role_assignments.c.scope
        )
        if principal:
            query = query.where(role_assignments.c.principal == principal)
        with self._db.read() as conn:
            rows = conn.execute(
                query.order_by(role_assignments.c.principal, role_assignments.c.role)
            ).all()
        return [RoleAssignment(p, r, s) for p, r, s in rows]

    def held(self, principal: str) -> list[tuple[str, str]]:
        """The (role, scope) pairs a user holds, as rights are computed from them."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(role_assignments.c.role, role_assignments.c.scope).where(
                    role_assignments.c.principal == principal
                )
            ).all()
        return [(role, scope) for role, scope in rows]
