"""Which addresses the server may reach for webhooks, imports, build contexts and base
images, and the transport that connects only to checked addresses (no traffic is sent: the
resolver is a table and the network backend a recorder)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import httpcore
import httpx
import pytest

from dockyard.errors import Denied
from dockyard.netguard import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_REDIRECTS,
    AddressRefused,
    Guard,
    guard_for,
    is_public,
    non_public_address,
    outbound_client,
)

NON_PUBLIC = [
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
    "233.252.0.1",  # multicast, though "global"
    "240.0.0.1",
    "255.255.255.255",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.100.100.200",  # a cloud's metadata service
    "100.127.255.254",
    "192.0.0.8",  # IETF protocol assignments
    "192.0.0.170",
    "192.0.2.1",
    "198.18.0.1",  # benchmarking
    "198.19.255.254",
    "198.51.100.7",
    "203.0.113.7",
    "192.88.99.1",
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:0:a00:1::f5ff:fffe",  # Teredo with a private server
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::808:808",  # local-use NAT64 prefix
    "::a00:1",  # IPv4-compatible (deprecated)
    "fec0::1",  # site-local (deprecated)
    "ff0e::1",
    "2001:db8::1",
    "3fff::1",
    "100::1",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "100.63.255.255",
        "100.128.0.1",
        "198.17.255.255",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::1",  # 6to4 of a public address
        "64:ff9b::808:808",  # NAT64 of a public address
    ],
)
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
    guard = Guard("some_allow_setting", resolver)
    with pytest.raises(AddressRefused, match=r"10\.0\.0\.7.*some_allow_setting"):
        guard.check("mixed.example", 443)
    assert [str(a) for a in guard.addresses("public.example", 443)] == ["8.8.8.8", "1.1.1.1"]


def test_an_unresolvable_host_raises() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(OSError, match="no such host"):
        non_public_address("nowhere.example", 443, resolver)


# --- the transport: resolve once, connect to the checked address ---------------------------


class _Stream(httpcore.NetworkStream):
    """Answers each request written to it with `answer`."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer
        self._due = 0

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._due:
            return b""
        self._due -= 1
        return self._answer

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer.startswith((b"GET ", b"POST ")):
            self._due += 1

    def close(self) -> None:
        pass

    def start_tls(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
        raise AssertionError("no TLS in these tests")


class RecordingBackend(httpcore.NetworkBackend):
    """Records where connections would go; never opens a socket."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.connects: list[tuple[str, int]] = []
        self._answers = answers

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[object] | None = None,
    ) -> httpcore.NetworkStream:
        self.connects.append((host, port))
        return _Stream(self._answers.get(host, b"HTTP/1.1 204 No Content\r\n\r\n"))


class RebindingResolver:
    """Answers `first` the first time a name is asked, 127.0.0.1 afterwards (DNS rebinding)."""

    def __init__(self, first: str) -> None:
        self.first = first
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return [self.first] if self.asked.count(host) == 1 else ["127.0.0.1"]


def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    """A name that answers a public address to the check and 127.0.0.1 afterwards: the
    connection goes to the checked address, and the name is resolved once."""
    resolver = RebindingResolver("93.184.215.14")
    backend = RecordingBackend({})
    guard = Guard("webhook_allow_private_targets", resolver)
    with httpx.Client(transport=guard.transport(backend)) as client:
        resp = client.post("http://rebind.example:8080/hook", content=b"{}")
        assert resp.status_code == 204
        assert resp.request.headers["host"] == "rebind.example:8080"
        again = client.post("http://rebind.example:8080/hook", content=b"{}")
        assert again.status_code == 204  # the same, checked, connection
    assert backend.connects == [("93.184.215.14", 8080)]
    assert resolver.asked == ["rebind.example"]


def test_a_new_connection_is_checked_again() -> None:
    resolver = RebindingResolver("93.184.215.14")
    backend = RecordingBackend({})
    guard = Guard("import_allow_private_sources", resolver)
    with httpx.Client(transport=guard.transport(backend)) as first:
        first.get("http://rebind.example/")
    with (
        httpx.Client(transport=guard.transport(backend)) as second,
        pytest.raises(AddressRefused, match=r"127\.0\.0\.1"),
    ):
        second.get("http://rebind.example/")
    assert ("127.0.0.1", 80) not in backend.connects
    assert backend.connects == [("93.184.215.14", 80)]


def test_a_redirect_to_a_private_address_is_refused_before_connecting() -> None:
    table = {"public.example": ["93.184.215.14"], "inside.example": ["100.100.100.200"]}
    redirect = (
        b"HTTP/1.1 302 Found\r\nLocation: http://inside.example/latest\r\nContent-Length: 0\r\n\r\n"
    )
    backend = RecordingBackend({"93.184.215.14": redirect})
    guard = Guard("task_allow_private_sources", lambda host, port: table[host])
    with (
        httpx.Client(transport=guard.transport(backend), follow_redirects=True) as client,
        pytest.raises(AddressRefused, match=r"inside\.example resolves to 100\.100\.100\.200"),
    ):
        client.get("http://public.example/")
    assert backend.connects == [("93.184.215.14", 80)]


def test_an_ip_literal_is_checked_too() -> None:
    backend = RecordingBackend({})
    guard = Guard("webhook_allow_private_targets")  # the real resolver: literals need no DNS
    with (
        httpx.Client(transport=guard.transport(backend)) as client,
        pytest.raises(AddressRefused),
    ):
        client.get("http://[64:ff9b::a9fe:a9fe]/latest")
    assert backend.connects == []


def test_an_unresolvable_host_is_a_connect_error() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    backend = RecordingBackend({})
    with (
        httpx.Client(transport=Guard("x", resolver).transport(backend)) as client,
        pytest.raises(httpx.ConnectError, match=r"cannot resolve nowhere\.example"),
    ):
        client.get("http://nowhere.example/")
    assert backend.connects == []


# --- the one outbound client: every caller's requests go through it ---------------------------


def test_the_outbound_client_pins_each_connection_to_a_checked_address() -> None:
    """A resolver that answers a public address, then 127.0.0.1 (DNS rebinding): the
    client's one connection goes to the public address; a second client, resolving again,
    is refused the loopback address before connecting."""
    resolver = RebindingResolver("93.184.215.14")
    backend = RecordingBackend({})
    guard = guard_for("import_allow_private_sources", False, resolver)
    with outbound_client(guard, timeout=5, backend=backend) as client:
        for _ in range(3):
            assert client.get("http://rebind.example/v2/").status_code == 204
    with (
        outbound_client(guard, timeout=5, backend=backend) as again,
        pytest.raises(AddressRefused, match=r"rebind\.example resolves to 127\.0\.0\.1"),
    ):
        again.get("http://rebind.example/v2/")
    assert backend.connects == [("93.184.215.14", 80)]


@pytest.mark.parametrize(
    "setting", ["import_allow_private_sources", "webhook_allow_private_targets"]
)
def test_a_redirect_hop_to_loopback_is_the_same_refusal_for_every_caller(setting: str) -> None:
    table = {"public.example": ["93.184.215.14"], "localhost": ["127.0.0.1"]}
    redirect = (
        b"HTTP/1.1 307 Temporary\r\nLocation: http://localhost:8080/x\r\nContent-Length: 0\r\n\r\n"
    )
    backend = RecordingBackend({"93.184.215.14": redirect})
    guard = guard_for(setting, False, lambda host, port: table[host])
    with (
        outbound_client(guard, timeout=5, follow_redirects=True, backend=backend) as client,
        pytest.raises(AddressRefused) as refused,
    ):
        client.post("http://public.example/hook", content=b"{}")
    assert str(refused.value.address) == "127.0.0.1"
    assert refused.value.code == Denied.code
    assert "localhost resolves to 127.0.0.1, a non-public address" in refused.value.message
    assert setting in refused.value.message
    assert backend.connects == [("93.184.215.14", 80)]


def test_the_outbound_client_bounds_redirects_and_time_and_ignores_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    backend = RecordingBackend({})
    guard = guard_for("task_allow_private_sources", False, lambda host, port: ["93.184.215.14"])
    with outbound_client(guard, timeout=60, backend=backend) as client:
        assert client.timeout.connect == CONNECT_TIMEOUT_SECONDS
        assert client.timeout.read == 60
        assert client.max_redirects == MAX_REDIRECTS
        assert client.get("http://public.example/").status_code == 204
    assert backend.connects == [("93.184.215.14", 80)]  # not the proxy
    assert guard_for("task_allow_private_sources", True) is None
