"""What the rows of `registry_settings` mean: the registry's tier and policies, read into one
typed `Policies` here and nowhere else, and written back as text; and the rows the access
wing reads on its hot path (anonymous pull, the admin user's switch and generation), read
and written here too so that no other wing names the table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from dockyard.spec.ip_ranges import DefaultAction
from dockyard.storage.db.schema import registry_settings
from dockyard.storage.db.settings import read_settings, write_setting
from dockyard.tiers.table import DEFAULT_SKU, TIERS, Sku, TierLimits

DEFAULT_RETENTION_DAYS = 7
DEFAULT_SOFT_DELETE_DAYS = 7
SKU_SETTING = "sku"  # the row holding the current tier
DEFAULT_ACTION_SETTING = "network_default_action"
# When the retention policy was last switched on: only manifests untagged since then count.
RETENTION_SINCE_SETTING = "retention_enabled_at"
# Policies fields whose row is not named after the field.
_SETTING_NAMES = {"sku": SKU_SETTING, "network_default_action": DEFAULT_ACTION_SETTING}


def _flag(values: dict[str, str], name: str, default: bool = False) -> bool:
    return values.get(name, "true" if default else "false") == "true"


def _default_action(values: dict[str, str]) -> DefaultAction:
    """Anything unknown reads as Allow (never written)."""
    return (
        DefaultAction.DENY
        if values.get(DEFAULT_ACTION_SETTING) == DefaultAction.DENY.value
        else DefaultAction.ALLOW
    )


@dataclass(frozen=True, slots=True)
class Policies:
    """The registry's tier and the policies set on it."""

    sku: Sku
    anonymous_pull: bool
    immutable_tags: bool  # registry-wide write-once tags
    retention_enabled: bool  # untagged manifests are deleted after `retention_days`
    retention_days: int
    soft_delete_enabled: bool  # deleted tags and manifests are kept `soft_delete_days`
    soft_delete_days: int
    quarantine_enabled: bool
    network_default_action: DefaultAction  # Deny: only clients a network rule allows

    @property
    def limits(self) -> TierLimits:
        return TIERS[self.sku]

    @classmethod
    def from_settings(cls, values: dict[str, str]) -> Policies:
        try:
            sku = Sku(values.get(SKU_SETTING, DEFAULT_SKU.value))
        except ValueError:
            sku = DEFAULT_SKU
        return cls(
            sku=sku,
            anonymous_pull=_flag(values, "anonymous_pull"),
            immutable_tags=_flag(values, "immutable_tags"),
            retention_enabled=_flag(values, "retention_enabled"),
            retention_days=int(values.get("retention_days", DEFAULT_RETENTION_DAYS)),
            soft_delete_enabled=_flag(values, "soft_delete_enabled"),
            soft_delete_days=int(values.get("soft_delete_days", DEFAULT_SOFT_DELETE_DAYS)),
            quarantine_enabled=_flag(values, "quarantine_enabled"),
            network_default_action=_default_action(values),
        )


def load_policies(conn: Connection) -> Policies:
    return Policies.from_settings(read_settings(conn))


def write_policies(conn: Connection, updates: dict[str, object]) -> None:
    """Store changed `Policies` fields (by field name)."""
    for name, value in updates.items():
        write_setting(conn, _SETTING_NAMES.get(name, name), _text(value))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Sku | DefaultAction):
        return value.value
    return str(value)


def retention_since(conn: Connection) -> float | None:
    """When the retention policy was switched on; None when that was never recorded."""
    since = read_settings(conn).get(RETENTION_SINCE_SETTING)
    return None if since is None else float(since)


def mark_retention_since(conn: Connection, moment: float) -> None:
    write_setting(conn, RETENTION_SINCE_SETTING, repr(moment))


ANONYMOUS_PULL_SETTING = "anonymous_pull"
ADMIN_ENABLED_SETTING = "admin_enabled"
# Changes when the admin user is turned off or a password of it changes: tokens carry it.
ADMIN_GENERATION_SETTING = "admin_credential_generation"

# Built once: these rows are read for every request that presents an admin token or none at
# all (the principal's status check), so they are one prebuilt primary-key read each.
_ANONYMOUS_PULL = select(registry_settings.c.value).where(
    registry_settings.c.name == ANONYMOUS_PULL_SETTING
)
_ADMIN_ENABLED = select(registry_settings.c.value).where(
    registry_settings.c.name == ADMIN_ENABLED_SETTING
)
_ADMIN_STATUS = select(registry_settings.c.name, registry_settings.c.value).where(
    registry_settings.c.name.in_([ADMIN_ENABLED_SETTING, ADMIN_GENERATION_SETTING])
)
_ADMIN_GENERATION_FOR_UPDATE = (
    select(registry_settings.c.value)
    .where(registry_settings.c.name == ADMIN_GENERATION_SETTING)
    .with_for_update()
)


def anonymous_pull_enabled(conn: Connection) -> bool:
    return conn.execute(_ANONYMOUS_PULL).scalar() == "true"


def set_anonymous_pull(conn: Connection, enabled: bool) -> None:
    write_setting(conn, ANONYMOUS_PULL_SETTING, _text(enabled))


@dataclass(frozen=True, slots=True)
class AdminStatus:
    enabled: bool
    generation: int  # 0 until the admin user is first turned off or a password changes


def admin_enabled(conn: Connection) -> bool:
    return conn.execute(_ADMIN_ENABLED).scalar() == "true"


def admin_status(conn: Connection) -> AdminStatus:
    values = dict(conn.execute(_ADMIN_STATUS).tuples().all())
    return AdminStatus(
        enabled=values.get(ADMIN_ENABLED_SETTING) == "true",
        generation=int(values.get(ADMIN_GENERATION_SETTING, "0")),
    )


def set_admin_enabled(conn: Connection, enabled: bool) -> None:
    write_setting(conn, ADMIN_ENABLED_SETTING, _text(enabled))


def bump_admin_generation(conn: Connection) -> None:
    """Count one more change of the admin user's credentials (the row is locked first, so
    two concurrent changes count twice)."""
    row = conn.execute(_ADMIN_GENERATION_FOR_UPDATE).first()
    write_setting(conn, ADMIN_GENERATION_SETTING, str(int(row[0]) + 1 if row is not None else 1))
