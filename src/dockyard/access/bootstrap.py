"""A registry's first start: with no identity at all, one owner to manage it."""

from __future__ import annotations

from sqlalchemy import select

from dockyard.access.admin import AdminUser
from dockyard.access.roles import Roles
from dockyard.access.users import Users
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import tokens, users

BOOTSTRAP_ACTOR = "bootstrap"


class FirstStart:
    def __init__(self, db: Database, users: Users, roles: Roles, admin: AdminUser) -> None:
        self._db = db
        self._users = users
        self._roles = roles
        self._admin = admin

    def create_owner(self, name: str = "owner") -> str | None:
        """On a registry with no identity at all, create user `name` with the Owner role over
        the registry; returns its password, or None when anyone exists."""
        with self._db.read() as conn:
            anyone = (
                conn.execute(select(users.c.name).limit(1)).first()
                or conn.execute(select(tokens.c.name).limit(1)).first()
            )
        if anyone is not None or self._admin.enabled:
            return None
        password = self._users.create(name, "user", actor=BOOTSTRAP_ACTOR)
        self._roles.assign(name, "Owner", "*", actor=BOOTSTRAP_ACTOR)
        return password
