"""The management API's registry bodies: the service tier (SKU), its limits, and the
registry's policies, as shown and as changed.

`Sku` repeats, value for value, `dockyard.tiers.table.Sku` (the tiers wing sits above this
module); tests/integration/test_cli_api_client.py holds both to the server's OpenAPI document.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from dockyard.spec.ip_ranges import DefaultAction
from dockyard.wire.base import WireModel


class Sku(StrEnum):
    BASIC = "Basic"
    STANDARD = "Standard"
    PREMIUM = "Premium"


class Limits(WireModel):
    included_storage_bytes: int = Field(description="Beyond it, usage is reported as overage")
    storage_limit_bytes: int = Field(description="The hard limit: pushes beyond it are denied")
    webhooks: int
    scope_maps: int
    tokens: int
    anonymous_pull: bool
    geo_replication: bool
    retention_policy: bool
    customer_managed_keys: bool
    ip_rules: int = Field(description="IP network rules; 0: network rules are not offered")
    rates_per_minute: dict[str, int] = Field(
        description="Per registry and per identity: reads, writes, deletes, referrers, tokens"
    )


class RetentionPolicy(WireModel):
    enabled: bool = Field(description="Delete untagged manifests after `days` (Premium)")
    days: int = Field(ge=0, le=365)


class SoftDeletePolicy(WireModel):
    enabled: bool = Field(description="Keep deleted tags and manifests, restorable, for `days`")
    days: int = Field(ge=1, le=90)


class RegistryView(WireModel):
    sku: Sku
    limits: Limits
    anonymous_pull: bool
    immutable_tags: bool = Field(description="Tags of every repository are write-once")
    retention_policy: RetentionPolicy
    soft_delete_policy: SoftDeletePolicy
    quarantine_enabled: bool
    network_default_action: DefaultAction = Field(
        description="Deny: only clients a network rule allows (see /network-rules)"
    )


class RetentionUpdate(WireModel):
    enabled: bool | None = None
    days: int | None = Field(default=None, ge=0, le=365)


class SoftDeleteUpdate(WireModel):
    enabled: bool | None = None
    days: int | None = Field(default=None, ge=1, le=90)


class RegistryUpdate(WireModel):
    sku: Sku | None = Field(
        default=None, description="Refused with the reasons when current use does not fit it"
    )
    immutable_tags: bool | None = None
    retention_policy: RetentionUpdate | None = None
    soft_delete_policy: SoftDeleteUpdate | None = None
    quarantine_enabled: bool | None = None
    network_default_action: DefaultAction | None = Field(
        default=None,
        description="Allow, or Deny but for the clients a network rule allows (Premium)",
    )
