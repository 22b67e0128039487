"""`/registry`: the registry's service tier (SKU), its limits, and its policies."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dockyard.api.management.deps import Access, LockoutGuard, Reader, Writer
from dockyard.api.management.deps import Policies as PolicyDep
from dockyard.spec.ip_ranges import DefaultAction
from dockyard.tiers.policies import PolicyChange
from dockyard.tiers.settings import Policies
from dockyard.tiers.table import Sku

router = APIRouter(tags=["registry"])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Model):
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


class RetentionPolicy(_Model):
    enabled: bool = Field(description="Delete untagged manifests after `days` (Premium)")
    days: int = Field(ge=0, le=365)


class SoftDeletePolicy(_Model):
    enabled: bool = Field(description="Keep deleted tags and manifests, restorable, for `days`")
    days: int = Field(ge=1, le=90)


class RegistryView(_Model):
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


class RetentionUpdate(_Model):
    enabled: bool | None = None
    days: int | None = Field(default=None, ge=0, le=365)


class SoftDeleteUpdate(_Model):
    enabled: bool | None = None
    days: int | None = Field(default=None, ge=1, le=90)


class RegistryUpdate(_Model):
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


def registry_view(
    policies: Policies, storage_limit_bytes: int, rates: dict[str, int]
) -> RegistryView:
    limits = policies.limits
    return RegistryView(
        sku=policies.sku,
        limits=Limits(
            included_storage_bytes=limits.included_storage_bytes,
            storage_limit_bytes=storage_limit_bytes,
            webhooks=limits.webhooks,
            scope_maps=limits.scope_maps,
            tokens=limits.tokens,
            anonymous_pull=limits.anonymous_pull,
            geo_replication=limits.geo_replication,
            retention_policy=limits.retention_policy,
            customer_managed_keys=limits.customer_managed_keys,
            ip_rules=limits.ip_rules,
            rates_per_minute=rates,
        ),
        anonymous_pull=policies.anonymous_pull,
        immutable_tags=policies.immutable_tags,
        retention_policy=RetentionPolicy(
            enabled=policies.retention_enabled, days=policies.retention_days
        ),
        soft_delete_policy=SoftDeletePolicy(
            enabled=policies.soft_delete_enabled, days=policies.soft_delete_days
        ),
        quarantine_enabled=policies.quarantine_enabled,
        network_default_action=policies.network_default_action,
    )


@router.get("/registry")
def show_registry(_: Reader, service: PolicyDep) -> RegistryView:
    """The registry's tier with its limits, and its policies."""
    policies = service.get()
    return registry_view(policies, service.storage_limit_bytes, service.rates_per_minute(policies))


@router.patch("/registry")
def update_registry(
    body: RegistryUpdate,
    principal: Writer,
    service: PolicyDep,
    access: Access,
    guard: LockoutGuard,
) -> RegistryView:
    """Change the tier or policies. A tier that the registry's current use does not fit (more
    webhooks, scope maps or tokens than it allows, anonymous pull or a retention policy it
    does not offer, network rules below Premium) is refused with every reason."""
    retention = body.retention_policy or RetentionUpdate()
    soft_delete = body.soft_delete_policy or SoftDeleteUpdate()
    change = PolicyChange(
        sku=body.sku,
        immutable_tags=body.immutable_tags,
        retention_enabled=retention.enabled,
        retention_days=retention.days,
        soft_delete_enabled=soft_delete.enabled,
        soft_delete_days=soft_delete.days,
        quarantine_enabled=body.quarantine_enabled,
        network_default_action=body.network_default_action,
    )
    before, after = service.update(change, guard)
    changed = {
        name: getattr(after, name)
        for name in before.__dataclass_fields__
        if getattr(before, name) != getattr(after, name)
    }
    access.audit.record(
        "registry.update", principal.id, "ok", **{k: str(v) for k, v in changed.items()}
    )
    return registry_view(after, service.storage_limit_bytes, service.rates_per_minute(after))
