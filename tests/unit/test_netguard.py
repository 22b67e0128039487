"""Which addresses the server may reach for webhooks and imports (no traffic is sent: the
resolver is a table)."""

from __future__ import annotations

import ipaddress

import pytest

from dockyard.netguard import is_public, non_public_address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "240.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_a_host_is_refused_when_any_of_its_addresses_is_not_public() -> None:
    table = {"mixed.example": ["8.8.8.8", "10.0.0.7"], "public.example": ["8.8.8.8", "1.1.1.1"]}

    def resolver(host: str, port: int) -> list[str]:
        return table[host]

    assert non_public_address("mixed.example", 443, resolver) == ipaddress.ip_address("10.0.0.7")
    assert non_public_address("public.example", 443, resolver) is None
    scoped = non_public_address("x", 80, lambda host, port: ["fe80::1%eth0"])
    assert scoped == ipaddress.ip_address("fe80::1")


def test_an_unresolvable_host_raises() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(OSError, match="no such host"):
        non_public_address("nowhere.example", 443, resolver)
