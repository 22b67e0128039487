"""Registry-wide settings that change at run time (rows of `registry_settings`), and the typed
view of the registry's policies that every layer reads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from dockyard.errors import Denied
from dockyard.spec.ip_ranges import DefaultAction
from dockyard.storage.db.database import upsert
from dockyard.storage.db.network_rules import read_default_action
from dockyard.storage.db.schema import (
    network_rules,
    registry_settings,
    scope_maps,
    tokens,
    webhooks,
)
from dockyard.tiers import DEFAULT_SKU, SKU_SETTING, TIERS, Sku, TierLimits

DEFAULT_RETENTION_DAYS = 7
DEFAULT_SOFT_DELETE_DAYS = 7


_ALL_SETTINGS = select(registry_settings)


def read_settings(conn: Connection) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in conn.execute(_ALL_SETTINGS)}


def write_setting(conn: Connection, name: str, value: str) -> None:
    upsert(conn, registry_settings, {"name": name, "value": value}, ["name"], ["value"])


def _flag(values: dict[str, str], name: str, default: bool = False) -> bool:
    return values.get(name, "true" if default else "false") == "true"


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
            network_default_action=read_default_action(values),
        )


def load_policies(conn: Connection) -> Policies:
    return Policies.from_settings(read_settings(conn))


_COUNTED = {
    "webhooks": webhooks,
    "scope_maps": scope_maps,
    "tokens": tokens,
    "ip_rules": network_rules,
}


def _count(conn: Connection, item: str) -> int:
    return int(conn.execute(select(func.count()).select_from(_COUNTED[item])).scalar_one())


def tier_counts(conn: Connection) -> dict[str, int]:
    """How many of each tier-limited item exist (the system scope maps are not rows)."""
    return {item: _count(conn, item) for item in _COUNTED}


def check_tier_room(conn: Connection, item: str) -> None:
    """Refuse (DENIED) one more `item` (webhooks, scope_maps, tokens) beyond the tier's limit;
    call it in the transaction that creates the item."""
    policies = load_policies(conn)
    allowed: int = getattr(policies.limits, item)
    used = _count(conn, item)
    if used >= allowed:
        label = item.replace("_", " ")
        raise Denied(
            f"the {policies.sku} tier allows {allowed} {label} and {used} exist; "
            "delete one or change the tier",
            detail={"sku": policies.sku.value, "limit": allowed, "current": used},
        )
