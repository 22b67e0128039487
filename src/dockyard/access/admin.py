"""The admin user: on or off, its two passwords, and the generation its tokens carry."""

from __future__ import annotations

from sqlalchemy import select

from dockyard.access.audit import AuditLog
from dockyard.access.model import NewPassword
from dockyard.access.principals import ADMIN
from dockyard.access.rows import set_password
from dockyard.errors import Invalid
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import credentials
from dockyard.tiers.settings import admin_enabled, bump_admin_generation, set_admin_enabled

SLOTS = (1, 2)


class AdminUser:
    def __init__(self, db: Database, audit: AuditLog, username: str) -> None:
        self._db = db
        self._audit = audit
        self.username = username

    @property
    def enabled(self) -> bool:
        with self._db.read() as conn:
            return admin_enabled(conn)

    def enable(self, enabled: bool, actor: str) -> list[NewPassword]:
        """Turn the admin user on or off; turning it on creates (and returns) missing
        passwords."""
        created: list[NewPassword] = []
        with self._db.write() as conn:
            set_admin_enabled(conn, enabled)
            if enabled:
                existing = {
                    slot
                    for (slot,) in conn.execute(
                        select(credentials.c.slot).where(credentials.c.principal == ADMIN.id)
                    )
                }
                created = [
                    NewPassword(slot, set_password(conn, ADMIN.id, slot))
                    for slot in SLOTS
                    if slot not in existing
                ]
            else:
                bump_admin_generation(conn)
        self._audit.record("admin.enable" if enabled else "admin.disable", actor, "ok")
        return created

    def regenerate_password(self, slot: int, actor: str) -> NewPassword:
        if slot not in SLOTS:
            raise Invalid("the admin user has passwords 1 and 2")
        with self._db.write() as conn:
            password = set_password(conn, ADMIN.id, slot)
            bump_admin_generation(conn)
        self._audit.record("credential.regenerate", actor, "ok", principal=ADMIN.id, slot=slot)
        return NewPassword(slot, password)
