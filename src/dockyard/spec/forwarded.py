"""Who the client is behind reverse proxies: `X-Forwarded-For` read from the right, one hop
at a time, for as long as the hop that wrote the entry is a trusted proxy."""

from __future__ import annotations

from collections.abc import Container, Sequence

from dockyard.spec.ip_ranges import IpAddress, parse_address

# More trusted proxies in a row than any real chain has; past it the client is unknown.
MAX_FORWARDED_HOPS = 16


def forwarded_client(
    peer: IpAddress | None, forwarded_for: Sequence[str], trusted: Container[IpAddress]
) -> IpAddress | None:
    """The client address: the direct peer unless it is a trusted proxy, else the right-most
    `X-Forwarded-For` entry that no trusted proxy wrote. `forwarded_for` holds the header's
    values in the order received (each may list several entries). None when the chain
    breaks (an entry that is not an address, or too many trusted hops): the client is then
    no address that a rule could allow."""
    client = peer
    if client is None or client not in trusted:
        return client
    # Only the right-most entries are read, so a huge header costs no more than a short one.
    joined = ",".join(forwarded_for)
    entries = joined.rsplit(",", MAX_FORWARDED_HOPS)
    hops = 0
    for entry in reversed(entries):
        if hops == MAX_FORWARDED_HOPS:
            return None
        hops += 1
        if not entry.strip():
            continue
        address = parse_address(entry)
        if address is None:
            return None
        client = address
        if address not in trusted:
            return client
    # Every entry was written by a trusted proxy: the left-most one is the client.
    return client
