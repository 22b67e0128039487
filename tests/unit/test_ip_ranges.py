"""IP rules and client addresses (spec/ip_ranges.py, spec/forwarded.py): strict parsing, the
set lookup against a plain scan, and X-Forwarded-For read from the right."""

from __future__ import annotations

import ipaddress
import random

import pytest

from dockyard.spec.forwarded import forwarded_client
from dockyard.spec.ip_ranges import AddressSet, parse_address, parse_ip_range, range_text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("10.0.0.7", "10.0.0.7"),
        (" 10.0.0.0/24 ", "10.0.0.0/24"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("2001:db8:0:0::1", "2001:db8::1"),
        ("::ffff:198.51.100.0/120", "198.51.100.0/24"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("::/0", "::/0"),
    ],
)
def test_rules_parse_to_one_canonical_text(text: str, canonical: str) -> None:
    assert range_text(parse_ip_range(text)) == canonical


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x", "10.0.0.256", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/24",
     "10.0.0.1/24", "2001:db8::1/32", "fe80::1%eth0", "10.0.0.0/24/8", "1" * 100,
     "10.0.0.0\x00/8", "2001:db8::/129", "10.0.0.0 /24"],
)  # fmt: skip
def test_malformed_rules_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"IP address or CIDR|zone index|past its prefix"):
        parse_ip_range(text)


def test_a_range_with_host_bits_names_the_range_it_meant() -> None:
    with pytest.raises(ValueError, match=r"did you mean 10\.0\.0\.0/24"):
        parse_ip_range("10.0.0.5/24")


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("203.0.113.9:443", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
    ],
)
def test_client_addresses_as_sockets_and_proxies_write_them(text: str, address: str) -> None:
    assert parse_address(text) == ipaddress.ip_address(address)


@pytest.mark.parametrize("text", ["", "unknown", "[2001:db8::1", "1.2.3", "_hidden", "a" * 80])
def test_what_is_no_address_is_none(text: str) -> None:
    assert parse_address(text) is None


def test_the_set_lookup_agrees_with_a_plain_scan() -> None:
    rng = random.Random(12)
    networks = [
        ipaddress.ip_network((rng.getrandbits(32), rng.randint(8, 32)), strict=False)
        for _ in range(100)
    ] + [ipaddress.ip_network("2001:db8::/48"), ipaddress.ip_network("::1")]
    allowed = AddressSet.of(networks)
    samples = [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(3000)]
    samples += [n.network_address for n in networks]
    samples += [ipaddress.ip_address("2001:db8::5"), ipaddress.ip_address("2001:db9::5")]
    for address in samples:
        assert (address in allowed) == any(address in n for n in networks), address
    assert ipaddress.ip_address("10.0.0.1") not in AddressSet()
    assert None not in allowed


TRUSTED = AddressSet.of([parse_ip_range("10.0.0.0/8")])
PROXY = ipaddress.ip_address("10.0.0.1")


def client(peer: str, *values: str) -> str | None:
    found = forwarded_client(ipaddress.ip_address(peer), list(values), TRUSTED)
    return None if found is None else str(found)


def test_forwarded_for_is_read_from_the_right_behind_trusted_proxies_only() -> None:
    assert client("10.0.0.1") == "10.0.0.1"
    assert client("10.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert client("10.0.0.1", "1.1.1.1, 203.0.113.9") == "203.0.113.9"
    assert client("10.0.0.1", "203.0.113.9, 10.9.9.9") == "203.0.113.9"
    assert client("10.0.0.1", "1.1.1.1", "203.0.113.9, 10.2.2.2") == "203.0.113.9"
    assert client("10.0.0.1", "10.3.3.3, 10.2.2.2") == "10.3.3.3"
    assert client("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # not a trusted peer
    assert client("10.0.0.1", "203.0.113.9, junk") is None
    assert client("10.0.0.1", "203.0.113.9" + ", 10.1.1.1" * 16) is None
    assert client("10.0.0.1", "junk, " * 100_000 + "203.0.113.9") == "203.0.113.9"
    assert client("10.0.0.1", "203.0.113.9, , ") == "203.0.113.9"
