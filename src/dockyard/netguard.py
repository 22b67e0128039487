"""Which addresses the server may reach on a user's behalf, and connections that reach only
those.

Webhooks, imports, build contexts, git remotes and base-image lookups make the server send
requests to hosts that users choose. Unless an operator allows private targets, those hosts
must resolve to globally routable addresses only, so that nobody can use the registry to
reach its own loopback interface, a cloud's metadata service (169.254.169.254,
100.100.100.200), or the private network it runs in -- also not through the IPv6 forms that
carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64).

A check is only as good as the connection that follows it: a name checked and then resolved
again by the HTTP client can answer a public address to the check and a private one to the
client (DNS rebinding). `GuardedTransport` therefore resolves a host once per connection,
checks every address, and connects to a checked address, while TLS still verifies the
certificate against the host name.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import httpcore
import httpx
from httpcore._backends.base import SOCKET_OPTION as SocketOption

from dockyard.errors import Denied

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

MAX_REDIRECTS = 5
CONNECT_TIMEOUT_SECONDS = 15.0

_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network

# Python's `is_global` misses some of IANA's special-purpose blocks (which ones depends on the
# Python version), so these are refused whatever it says.
_NOT_GLOBAL_V4 = tuple(
    _v4(block)
    for block in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier NAT; a metadata service at 100.100.100.200
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_GLOBAL_UNICAST_V6 = _v6("2000::/3")
_NOT_GLOBAL_V6 = tuple(
    _v6(block)
    for block in (
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32",
        "3fff::/20",
    )
)
_NAT64 = _v6("64:ff9b::/96")  # the well-known prefix: the last 32 bits are the IPv4 address
_SIXTOFOUR = _v6("2002::/16")


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (raises OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: 6to4's, Teredo's server and client."""
    found: list[ipaddress.IPv4Address] = []
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _is_public_v4(address: ipaddress.IPv4Address) -> bool:
    return (
        address.is_global
        and not address.is_multicast
        and not any(address in block for block in _NOT_GLOBAL_V4)
    )


def is_public(address: IPAddress) -> bool:
    """Whether `address` is globally routable unicast. An IPv6 address that carries an IPv4
    address is judged by that address too: IPv4-mapped (::ffff:a.b.c.d) and NAT64
    (64:ff9b::a.b.c.d) by the IPv4 address alone; 6to4 and Teredo must pass both checks
    (Teredo never does: 2001::/23 is not global)."""
    if isinstance(address, ipaddress.IPv4Address):
        return _is_public_v4(address)
    address = ipaddress.IPv6Address(address.packed)  # without a zone (fe80::1%eth0)
    if address.ipv4_mapped is not None:
        return _is_public_v4(address.ipv4_mapped)
    if address in _NAT64:
        return _is_public_v4(ipaddress.IPv4Address(address.packed[-4:]))
    if (
        address not in _GLOBAL_UNICAST_V6
        or not address.is_global
        or any(address in block for block in _NOT_GLOBAL_V6)
    ):
        return False  # also the local-use NAT64 prefix 64:ff9b:1::/48, outside 2000::/3
    return all(_is_public_v4(v4) for v4 in _embedded_ipv4(address))


def _parsed(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


def non_public_address(host: str, port: int, resolver: Resolver = resolve) -> IPAddress | None:
    """The first address of `host` that is not public, or None when all of them are (the
    check of `Guard.addresses`, as a value).

    Raises OSError when the host does not resolve.
    """
    try:
        Guard("", resolver).addresses(host, port)
    except AddressRefused as refused:
        return refused.address
    return None


class AddressRefused(Denied):
    """A host that resolves to an address the server may not reach."""

    def __init__(self, host: str, address: IPAddress, setting: str) -> None:
        super().__init__(
            f"{host} resolves to {address}, a non-public address (loopback, private, "
            f"link-local, shared or reserved); set {setting} to allow it",
            detail={"host": host},
        )
        self.host = host
        self.address = address


@dataclass(frozen=True, slots=True)
class Guard:
    """The check for one kind of outbound request; `setting` is the name of the setting that
    allows private targets, named in refusals."""

    setting: str
    resolver: Resolver = resolve

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of `host`, in the resolver's order, once all of them are public.
        Raises AddressRefused, or OSError when the host does not resolve."""
        found = list(dict.fromkeys(_parsed(text) for text in self.resolver(host, port)))
        if not found:
            raise OSError(f"{host} has no address")
        for address in found:
            if not is_public(address):
                raise AddressRefused(host, address, self.setting)
        return found

    def check(self, host: str, port: int) -> None:
        self.addresses(host, port)

    def transport(self, backend: httpcore.NetworkBackend | None = None) -> GuardedTransport:
        return GuardedTransport(self, backend)


def guard_for(setting: str, allow_private: bool, resolver: Resolver = resolve) -> Guard | None:
    """The guard of one kind of outbound request, None when `setting` allows private
    targets."""
    return None if allow_private else Guard(setting, resolver)


def outbound_client(
    guard: Guard | None,
    *,
    timeout: float | httpx.Timeout,
    follow_redirects: bool = False,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    backend: httpcore.NetworkBackend | None = None,
) -> httpx.Client:
    """The client for requests to hosts that users name (webhooks, imports, build contexts,
    base images). With a guard, every connection -- each redirect hop (at most
    MAX_REDIRECTS) and token realm included -- goes through `GuardedTransport` and so only
    to a checked, public address; a refusal raises AddressRefused. Without a guard (private
    targets allowed) connections go wherever the names resolve. Either way the environment
    is not consulted: no proxy (a proxy would resolve the name out of the guard's sight) and
    the default CA bundle. A timeout is required: a number bounds every phase, the connect
    phase by CONNECT_TIMEOUT_SECONDS at most. Callers bound what they read of a response
    themselves: `iter_bytes` with a limit, never `.content` of an unbounded body."""
    if not isinstance(timeout, httpx.Timeout):
        timeout = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS))
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,
        transport=guard.transport(backend) if guard is not None else None,
    )


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the check in front: the host the connection pool
    asks for is resolved here, once, and the socket goes to an address that passed."""

    def __init__(self, guard: Guard, inner: httpcore.NetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("guarded connections go to checked addresses only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections go through `GuardedBackend`. The request keeps
    its URL, so the Host header, TLS SNI and certificate verification use the host name.
    Proxies from the environment are not used: a proxy would resolve the name itself, out of
    the guard's sight. A redirect to another host opens a new connection, checked again."""

    def __init__(self, guard: Guard, backend: httpcore.NetworkBackend | None = None) -> None:
        # HTTPTransport's constructor offers no network backend, so the pool it would build
        # is built here instead, with the same defaults.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(guard, backend),
        )
