"""The tier's counted limits and offered features, held against what the registry uses."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from dockyard.errors import Denied
from dockyard.spec.ip_ranges import DefaultAction
from dockyard.storage.db.schema import network_rules, scope_maps, tokens, webhooks
from dockyard.tiers.settings import Policies, load_policies

# The tier-limited items: the TierLimits field of each, and the table of its rows.
_COUNTED = {
    "webhooks": webhooks,
    "scope_maps": scope_maps,
    "tokens": tokens,
    "ip_rules": network_rules,
}
_LABELS = {
    "webhooks": "webhooks",
    "scope_maps": "scope maps",
    "tokens": "tokens",
    "ip_rules": "IP network rules",
}


def _count(conn: Connection, item: str) -> int:
    return int(conn.execute(select(func.count()).select_from(_COUNTED[item])).scalar_one())


def tier_counts(conn: Connection) -> dict[str, int]:
    """How many of each tier-limited item exist (the system scope maps are not rows)."""
    return {item: _count(conn, item) for item in _COUNTED}


def room_for_one_more(policies: Policies, item: str, used: int) -> None:
    """Refuse (DENIED) one more `item` (webhooks, scope_maps, tokens) beyond the tier's limit
    when `used` exist."""
    allowed: int = getattr(policies.limits, item)
    if used >= allowed:
        label = item.replace("_", " ")
        raise Denied(
            f"the {policies.sku} tier allows {allowed} {label} and {used} exist; "
            "delete one or change the tier",
            detail={"sku": policies.sku.value, "limit": allowed, "current": used},
        )


def check_tier_room(conn: Connection, item: str) -> None:
    """`room_for_one_more`, read in the transaction that creates the item."""
    room_for_one_more(load_policies(conn), item, _count(conn, item))


def violations(policies: Policies, counts: dict[str, int]) -> list[str]:
    """Why a registry holding `counts` does not fit `policies`; empty when it fits."""
    limits = policies.limits
    found: list[str] = []
    for item, label in _LABELS.items():
        used, allowed = counts[item], getattr(limits, item)
        if used > allowed:
            found.append(f"{used} {label} exist and {policies.sku} allows {allowed}")
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


def tier_violations(conn: Connection, policies: Policies) -> list[str]:
    """`violations` of the registry's current use."""
    return violations(policies, tier_counts(conn))
