"""The registry's tier and policies: reading them, and changing them only to states that the
tier allows and that the registry's current use fits in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from dockyard.errors import Denied, Unsupported
from dockyard.registry import retention
from dockyard.spec.ip_ranges import AddressSet, DefaultAction, IpAddress, stored_ranges
from dockyard.storage.db.database import Database
from dockyard.storage.db.network_rules import (
    DEFAULT_ACTION_SETTING,
    new_generation,
    read_ranges,
)
from dockyard.storage.db.settings import Policies, load_policies, tier_counts, write_setting
from dockyard.tiers import SKU_SETTING, TIERS, Sku

RETENTION_DAYS_RANGE = (0, 365)
SOFT_DELETE_DAYS_RANGE = (1, 90)


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """The fields of a change; None leaves a policy as it is."""

    sku: Sku | None = None
    immutable_tags: bool | None = None
    retention_enabled: bool | None = None
    retention_days: int | None = None
    soft_delete_enabled: bool | None = None
    soft_delete_days: int | None = None
    quarantine_enabled: bool | None = None
    network_default_action: DefaultAction | None = None


# The settings rows of fields whose row is not named after the field.
_SETTING_NAMES = {"sku": SKU_SETTING, "network_default_action": DEFAULT_ACTION_SETTING}


def tier_violations(conn: Connection, policies: Policies) -> list[str]:
    """Why the registry's current use does not fit `policies.sku`; empty when it fits."""
    limits = TIERS[policies.sku]
    found: list[str] = []
    existing = tier_counts(conn)
    counted = (
        ("webhooks", existing["webhooks"], limits.webhooks),
        ("scope maps", existing["scope_maps"], limits.scope_maps),
        ("tokens", existing["tokens"], limits.tokens),
        ("IP network rules", existing["ip_rules"], limits.ip_rules),
    )
    for what, used, allowed in counted:
        if used > allowed:
            found.append(f"{used} {what} exist and {policies.sku} allows {allowed}")
    if policies.anonymous_pull and not limits.anonymous_pull:
        found.append(f"anonymous pull is on and {policies.sku} does not offer it")
    if policies.retention_enabled and not limits.retention_policy:
        found.append(f"a retention policy is on and {policies.sku} does not offer it")
    if policies.network_default_action == DefaultAction.DENY and not limits.ip_rules:
        found.append(
            f"the network default action is Deny and {policies.sku} does not offer network "
            "rules (set it to Allow first)"
        )
    return found


class PolicyService:
    def __init__(
        self, db: Database, storage_limit_bytes: int, rate_overrides: dict[str, int] | None = None
    ) -> None:
        self._db = db
        self.storage_limit_bytes = storage_limit_bytes
        self._rate_overrides = dict(rate_overrides or {})

    def rates_per_minute(self, policies: Policies | None = None) -> dict[str, int]:
        """The tier's request rates, with the operator's overrides from the config."""
        tier = (policies or self.get()).limits
        rates = {str(k): v for k, v in tier.rates_per_minute.items()}
        rates.update({k: v for k, v in self._rate_overrides.items() if k in rates})
        return rates

    def counts(self) -> dict[str, int]:
        with self._db.read() as conn:
            return tier_counts(conn)

    def get(self) -> Policies:
        with self._db.read() as conn:
            return load_policies(conn)

    def update(
        self, change: PolicyChange, keep_allowed: IpAddress | None = None
    ) -> tuple[Policies, Policies]:
        """Apply `change`; returns the policies before and after. Refused as a whole (DENIED
        with every reason) when the result would not fit the tier, or when it would make the
        network rules refuse `keep_allowed` (the address of a caller that the rules govern,
        which would lock itself out)."""
        _check_range("retention days", change.retention_days, RETENTION_DAYS_RANGE)
        _check_range("soft-delete days", change.soft_delete_days, SOFT_DELETE_DAYS_RANGE)
        with self._db.write() as conn:
            if change.sku is not None or change.network_default_action is not None:
                # Before anything is read: lined up with network rule changes (their
                # generation row), and the rules cached by every process are read again.
                new_generation(conn)
            before = load_policies(conn)
            updates = {k: v for k, v in _fields(change).items() if v is not None}
            after = replace(before, **updates)
            problems = tier_violations(conn, after)
            if problems:
                raise Denied(
                    f"the registry cannot be {after.sku}: " + "; ".join(problems),
                    detail={"sku": after.sku.value, "reasons": problems},
                )
            if (
                keep_allowed is not None
                and after.network_default_action == DefaultAction.DENY
                and before.network_default_action != DefaultAction.DENY
            ):
                refuse_lockout(keep_allowed, read_ranges(conn))
            for name, value in updates.items():
                write_setting(conn, _SETTING_NAMES.get(name, name), _text(value))
            retention.policies_changed(conn, before, after)
        return before, after


def _fields(change: PolicyChange) -> dict[str, Any]:
    return {name: getattr(change, name) for name in PolicyChange.__dataclass_fields__}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Sku | DefaultAction):
        return value.value
    return str(value)


def _check_range(what: str, value: int | None, bounds: tuple[int, int]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise Unsupported(f"{what} must be between {bounds[0]} and {bounds[1]}, not {value}")


def refuse_lockout(address: IpAddress, ranges: list[str]) -> None:
    """Refuse (DENIED) a change after which default Deny and `ranges` would shut out
    `address`, the caller making it, from the management API it is using."""
    allowed = AddressSet.of(stored_ranges(ranges))
    if address not in allowed:
        raise Denied(
            f"this change would refuse your own address {address} (the management API is "
            f"under the network rules when the registry takes no credentials): add a "
            f"network rule for it first",
            detail={"client_ip": str(address)},
        )
