"""The admin user: on or off, its two passwords, and the generation its tokens carry."""

from __future__ import annotations

from sqlalchemy import Connection, select

from dockyard.access.audit import AuditLog
from dockyard.access.model import NewPassword
from dockyard.access.principals import ADMIN
from dockyard.access.rows import set_password
from dockyard.errors import Invalid
from dockyard.storage.db.database import Database, upsert
from dockyard.storage.db.schema import credentials, registry_settings

ENABLED_SETTING = "admin_enabled"
GENERATION_SETTING = "admin_credential_generation"
SLOTS = (1, 2)

_ENABLED = select(registry_settings.c.value).where(registry_settings.c.name == ENABLED_SETTING)


class AdminUser:
    def __init__(self, db: Database, audit: AuditLog, username: str) -> None:
        self._db = db
        self._audit = audit
        self.username = username

    @property
    def enabled(self) -> bool:
        with self._db.read() as conn:
            row = conn.execute(_ENABLED).first()
        return row is not None and row[0] == "true"

    def enable(self, enabled: bool, actor: str) -> list[NewPassword]:
        """Turn the admin user on or off; turning it on creates (and returns) missing
        passwords."""
        created: list[NewPassword] = []
        with self._db.write() as conn:
            upsert(
                conn,
                registry_settings,
                {"name": ENABLED_SETTING, "value": "true" if enabled else "false"},
                ["name"],
                ["value"],
            )
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
                _bump_generation(conn)
        self._audit.record("admin.enable" if enabled else "admin.disable", actor, "ok")
        return created

    def regenerate_password(self, slot: int, actor: str) -> NewPassword:
        if slot not in SLOTS:
            raise Invalid("the admin user has passwords 1 and 2")
        with self._db.write() as conn:
            password = set_password(conn, ADMIN.id, slot)
            _bump_generation(conn)
        self._audit.record("credential.regenerate", actor, "ok", principal=ADMIN.id, slot=slot)
        return NewPassword(slot, password)


def _bump_generation(conn: Connection) -> None:
    row = conn.execute(
        select(registry_settings.c.value)
        .where(registry_settings.c.name == GENERATION_SETTING)
        .with_for_update()
    ).first()
    bumped = str(int(row[0]) + 1 if row is not None else 1)
    upsert(
        conn,
        registry_settings,
        {"name": GENERATION_SETTING, "value": bumped},
        ["name"],
        ["value"],
    )
