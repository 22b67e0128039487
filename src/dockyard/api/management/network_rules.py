"""`/network-rules`: the IP addresses and CIDR ranges a registry whose default action is Deny
lets in (`az acr network-rule add|list|remove`). The default action itself is a policy of
`/registry` (`az acr update --default-action`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dockyard.api.management.deps import Access, LockoutGuard, Reader, RegistryDep, Writer
from dockyard.registry.network_rules import NetworkRuleSet
from dockyard.spec.ip_ranges import DefaultAction

router = APIRouter(tags=["network rules"])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IpRule(_Model):
    action: Literal["Allow"] = "Allow"
    ip_address_or_range: str = Field(description="An IP address or a CIDR range")


class NetworkRuleSetModel(_Model):
    default_action: DefaultAction = Field(
        description="Deny: only clients that a rule allows reach the registry"
    )
    ip_rules: list[IpRule]


class IpRuleCreate(_Model):
    ip_address_or_range: str = Field(
        max_length=64,
        description="An IPv4 or IPv6 address, or a CIDR range (10.0.0.0/24, 2001:db8::/48)",
    )


def rule_set_model(rules: NetworkRuleSet) -> NetworkRuleSetModel:
    return NetworkRuleSetModel(
        default_action=rules.default_action,
        ip_rules=[IpRule(ip_address_or_range=r) for r in rules.ranges],
    )


@router.get("/network-rules")
def list_network_rules(_: Reader, registry: RegistryDep) -> NetworkRuleSetModel:
    """The default action and the IP rules."""
    return rule_set_model(registry.network_rules.show())


@router.post(
    "/network-rules",
    status_code=201,
    response_model=NetworkRuleSetModel,
    responses={200: {"description": "The range was already allowed"}},
)
def add_network_rule(
    body: IpRuleCreate, principal: Writer, registry: RegistryDep, access: Access
) -> JSONResponse:
    """Allow an IP address or CIDR range (Premium; at most the tier's number of rules)."""
    rules, added = registry.network_rules.add(body.ip_address_or_range)
    model = rule_set_model(rules)
    if added:
        access.audit.record(
            "network_rule.add", principal.id, "ok", ip_range=body.ip_address_or_range
        )
    return JSONResponse(model.model_dump(mode="json"), status_code=201 if added else 200)


@router.delete("/network-rules", responses={404: {"description": "No such rule"}})
def remove_network_rule(
    principal: Writer,
    registry: RegistryDep,
    access: Access,
    guard: LockoutGuard,
    ip_address_or_range: Annotated[
        str, Query(max_length=64, description="The address or range of the rule")
    ],
) -> NetworkRuleSetModel:
    """Remove the rule for an IP address or CIDR range."""
    rules = registry.network_rules.remove(ip_address_or_range, guard)
    access.audit.record("network_rule.remove", principal.id, "ok", ip_range=ip_address_or_range)
    return rule_set_model(rules)
