"""IP addresses and ranges as network rules and trusted proxies name them: parsing text
(an address or CIDR, IPv4 or IPv6) strictly, and a set of ranges that answers whether an
address is in it in time that does not grow with the number of ranges."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longer than any address or CIDR can be written ("ffff:...:ffff/128" is 43 characters).
MAX_RANGE_TEXT = 64


class DefaultAction(StrEnum):
    """What a registry with network rules does with a client that no rule names."""

    ALLOW = "Allow"
    DENY = "Deny"


def parse_ip_range(text: str) -> IpNetwork:
    """An address (`10.0.0.7`, `2001:db8::1`) or a CIDR range (`10.0.0.0/24`). Raises
    ValueError saying what is wrong: a range with host bits set names the range it meant."""
    value = text.strip()
    if not value or len(value) > MAX_RANGE_TEXT:
        raise ValueError(f"{text[:MAX_RANGE_TEXT]!r} is not an IP address or CIDR range")
    if "%" in value:
        raise ValueError(f"{value!r}: a zone index (%...) names no range of client addresses")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IP address or CIDR range (e.g. 203.0.113.7, "
            "203.0.113.0/24, 2001:db8::/48)"
        ) from None
    if "/" in value and str(network) != _canonical(value, network):
        raise ValueError(f"{value!r} has bits set past its prefix length: did you mean {network}?")
    return _unmapped_network(network)


def range_text(network: IpNetwork) -> str:
    """How a range is shown and stored: a single address without its prefix length."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _canonical(value: str, network: IpNetwork) -> str:
    address, _, prefix = value.partition("/")
    return f"{ipaddress.ip_address(address)}/{int(prefix)}" if prefix.isdigit() else str(network)


def _unmapped_network(network: IpNetwork) -> IpNetwork:
    """`::ffff:10.0.0.0/120` is the IPv4 range 10.0.0.0/24 as a dual-stack socket sees it."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def parse_address(text: str) -> IpAddress | None:
    """A client address as sockets and proxies write it: plain, `[v6]`, with a `:port`, with
    a zone index; an IPv4-mapped IPv6 address is its IPv4 address. None when it is none."""
    value = text.strip()
    if not value or len(value) > MAX_RANGE_TEXT:
        return None
    if value.startswith("["):
        host, bracket, _ = value[1:].partition("]")
        value = host if bracket else ""
    elif value.count(":") == 1:
        value = value.partition(":")[0]  # IPv4 with a port
    value = value.partition("%")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def stored_ranges(texts: Iterable[str]) -> list[IpNetwork]:
    """Ranges as stored (canonical); one that does not parse allows nothing rather than
    failing every request."""
    found: list[IpNetwork] = []
    for text in texts:
        try:
            found.append(parse_ip_range(text))
        except ValueError:
            continue
    return found


@dataclass(frozen=True, slots=True)
class AddressSet:
    """Ranges kept by (IP version, prefix length) as sets of network numbers: a lookup costs
    one shift and one set probe per prefix length in use, however many ranges there are."""

    ranges: tuple[IpNetwork, ...] = ()
    _by_prefix: dict[tuple[int, int], frozenset[int]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def of(cls, ranges: Iterable[IpNetwork]) -> AddressSet:
        kept = tuple(ranges)
        grouped: dict[tuple[int, int], set[int]] = {}
        for network in kept:
            shift = network.max_prefixlen - network.prefixlen
            key = (network.version, network.prefixlen)
            grouped.setdefault(key, set()).add(int(network.network_address) >> shift)
        return cls(kept, {key: frozenset(numbers) for key, numbers in grouped.items()})

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        number = int(address)
        bits = address.max_prefixlen
        for (version, prefix), numbers in self._by_prefix.items():
            if version == address.version and (number >> (bits - prefix)) in numbers:
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.ranges)
