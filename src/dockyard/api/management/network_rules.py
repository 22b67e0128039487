"""`/network-rules`: the IP addresses and CIDR ranges a registry whose default action is Deny
lets in (`az acr network-rule add|list|remove`). The default action itself is a policy of
`/registry` (`az acr update --default-action`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from dockyard.api.management.deps import Access, LockoutGuard, Reader, RegistryDep, Writer
from dockyard.registry.network_rules import NetworkRuleSet

# The bodies live in dockyard.wire (shared with the CLI).
from dockyard.wire.network_rules import IpRule, IpRuleCreate, NetworkRuleSetModel

router = APIRouter(tags=["network rules"])


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
