"""The registry's tier and policies: reading them, and changing them only to states that the
tier allows and that the registry's current use fits in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from dockyard.errors import Denied, Unsupported
from dockyard.spec.ip_ranges import AddressSet, DefaultAction, IpAddress, stored_ranges
from dockyard.storage.db.database import Database
from dockyard.storage.db.network_rules import new_generation, read_ranges
from dockyard.tiers.limits import tier_counts, tier_violations
from dockyard.tiers.settings import Policies, load_policies, write_policies
from dockyard.tiers.table import Sku

# Called in the transaction that changes the policies, with the policies before and after
# (the registry's retention and recycle bin follow the change).
PolicyListener = Callable[[Connection, Policies, Policies], None]

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


class PolicyService:
    def __init__(
        self,
        db: Database,
        storage_limit_bytes: int,
        rate_overrides: dict[str, int] | None = None,
        on_change: PolicyListener | None = None,
    ) -> None:
        self._db = db
        self.storage_limit_bytes = storage_limit_bytes
        self._rate_overrides = dict(rate_overrides or {})
        self._on_change = on_change

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
            write_policies(conn, updates)
            if self._on_change is not None:
                self._on_change(conn, before, after)
        return before, after


def _fields(change: PolicyChange) -> dict[str, Any]:
    return {name: getattr(change, name) for name in PolicyChange.__dataclass_fields__}


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
