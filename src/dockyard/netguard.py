"""Which addresses the server may reach on a user's behalf.

Webhooks and imports make the server send requests to URLs that users choose. Unless an
operator allows it, those hosts must resolve to public addresses only, so that nobody can
use the registry to reach its own loopback interface, the link-local metadata services of a
cloud, or the private network it runs in.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (raises OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: IPAddress) -> bool:
    """False for loopback, link-local, private, unspecified, multicast and reserved addresses
    (an IPv4 address mapped into IPv6 is judged as the IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


def non_public_address(host: str, port: int, resolver: Resolver = resolve) -> IPAddress | None:
    """The first address of `host` that is not public, or None when all of them are.

    Raises OSError when the host does not resolve.
    """
    for text in resolver(host, port):
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not is_public(address):
            return address
    return None
