"""The registry setting that lets clients without credentials pull."""

from __future__ import annotations

from dockyard.access.audit import AuditLog
from dockyard.errors import Denied
from dockyard.storage.db.database import Database
from dockyard.tiers.settings import (
    ANONYMOUS_PULL_SETTING,
    anonymous_pull_enabled,
    load_policies,
    set_anonymous_pull,
)


class AnonymousPull:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    @property
    def enabled(self) -> bool:
        with self._db.read() as conn:
            return anonymous_pull_enabled(conn)

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
            set_anonymous_pull(conn, enabled)
        self._audit.record(
            "setting.change", actor, "ok", setting=ANONYMOUS_PULL_SETTING, value=enabled
        )
