"""Service tiers (SKUs): what each one includes and allows, with Azure Container Registry's
numbers. Every limit of a tier is read from this one table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GIB = 1024**3
TIB = 1024**4


class Sku(StrEnum):
    BASIC = "Basic"
    STANDARD = "Standard"
    PREMIUM = "Premium"


class RateClass(StrEnum):
    """The kinds of request that each have their own rate limit."""

    READS = "reads"
    WRITES = "writes"
    DELETES = "deletes"
    REFERRERS = "referrers"  # referrer listings
    TOKENS = "tokens"  # token requests


@dataclass(frozen=True, slots=True)
class TierLimits:
    included_storage_bytes: int  # beyond it, usage is reported as overage
    webhooks: int
    scope_maps: int
    tokens: int
    anonymous_pull: bool
    geo_replication: bool
    retention_policy: bool
    customer_managed_keys: bool
    ip_rules: int  # network rules (IP access rules); 0: network rules are not offered
    rates_per_minute: dict[RateClass, int]  # per registry, and again per identity


# ACR gives Basic and Standard the same request rates.
_BASIC_AND_STANDARD_RATES = {
    RateClass.READS: 10_000,
    RateClass.WRITES: 2_000,
    RateClass.DELETES: 1_000,
    RateClass.REFERRERS: 500,
    RateClass.TOKENS: 10_000,
}

TIERS: dict[Sku, TierLimits] = {
    Sku.BASIC: TierLimits(
        included_storage_bytes=10 * GIB,
        webhooks=2,
        scope_maps=100,
        tokens=100,
        anonymous_pull=False,
        geo_replication=False,
        retention_policy=False,
        customer_managed_keys=False,
        ip_rules=0,
        rates_per_minute=_BASIC_AND_STANDARD_RATES,
    ),
    Sku.STANDARD: TierLimits(
        included_storage_bytes=100 * GIB,
        webhooks=10,
        scope_maps=500,
        tokens=500,
        anonymous_pull=True,
        geo_replication=False,
        retention_policy=False,
        customer_managed_keys=False,
        ip_rules=0,
        rates_per_minute=_BASIC_AND_STANDARD_RATES,
    ),
    Sku.PREMIUM: TierLimits(
        included_storage_bytes=500 * GIB,
        webhooks=500,
        scope_maps=50_000,
        tokens=50_000,
        anonymous_pull=True,
        geo_replication=True,
        retention_policy=True,
        customer_managed_keys=True,
        ip_rules=100,
        rates_per_minute={
            RateClass.READS: 20_000,
            RateClass.WRITES: 4_000,
            RateClass.DELETES: 4_000,
            RateClass.REFERRERS: 2_000,
            RateClass.TOKENS: 20_000,
        },
    ),
}

DEFAULT_SKU = Sku.STANDARD
DEFAULT_STORAGE_LIMIT_BYTES = 5 * TIB
