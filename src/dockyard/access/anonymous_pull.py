"""The registry setting that lets clients without credentials pull."""

from __future__ import annotations

from sqlalchemy import select

from dockyard.access.audit import AuditLog
from dockyard.errors import Denied
from dockyard.storage.db.database import Database, upsert
from dockyard.storage.db.schema import registry_settings
from dockyard.tiers.settings import load_policies

SETTING = "anonymous_pull"

_READ = select(registry_settings.c.value).where(registry_settings.c.name == SETTING)


class AnonymousPull:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    @property
    def enabled(self) -> bool:
        with self._db.read() as conn:
            row = conn.execute(_READ).first()
        return row is not None and row[0] == "true"

    def set(self, enabled: bool, actor: str) -> None:
        """Turn anonymous pull on (only on a tier that offers it) or off."""
        with self._db.write() as conn:
            policies = load_policies(conn)
            if enabled and not policies.limits.anonymous_pull:
                raise Denied(
                    f"anonymous pull is not offered on the {policies.sku} tier "
                    "(Standard and Premium offer it)",
                    detail={"sku": policies.sku.value},
                )
            upsert(
                conn,
                registry_settings,
                {"name": SETTING, "value": "true" if enabled else "false"},
                ["name"],
                ["value"],
            )
        self._audit.record("setting.change", actor, "ok", setting=SETTING, value=enabled)
