"""The management API's network-rule bodies: the IP addresses and CIDR ranges a registry whose
default action is Deny lets in, and that default action."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dockyard.spec.ip_ranges import DefaultAction
from dockyard.wire.base import WireModel


class IpRule(WireModel):
    action: Literal["Allow"] = "Allow"
    ip_address_or_range: str = Field(description="An IP address or a CIDR range")


class NetworkRuleSetModel(WireModel):
    default_action: DefaultAction = Field(
        description="Deny: only clients that a rule allows reach the registry"
    )
    ip_rules: list[IpRule]


class IpRuleCreate(WireModel):
    ip_address_or_range: str = Field(
        max_length=64,
        description="An IPv4 or IPv6 address, or a CIDR range (10.0.0.0/24, 2001:db8::/48)",
    )
