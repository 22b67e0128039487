"""Loaded by the servers of egress tests (this folder is put first on their PYTHONPATH).

A fence: a TCP connection from Python to an address that is not loopback is refused before
any packet leaves, and recorded in $DOCKYARD_TEST_FENCE_LOG, so that a test can prove that
the server never tried it. And a name table: the names in $DOCKYARD_TEST_FENCE_DNS (JSON,
name -> list of answers) answer their nth lookup with the nth answer (the last one from then
on), counted across the server's processes, to play a DNS server that rebinds. And routes:
a connection to an address in $DOCKYARD_TEST_FENCE_ROUTES (JSON, address -> loopback address)
goes to that loopback address on the same port instead, and is recorded, so that a test can
play a public host with a local server."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import socket
from pathlib import Path
from typing import Any

_LOG = os.environ.get("DOCKYARD_TEST_FENCE_LOG")


def _record(line: str) -> None:
    assert _LOG is not None
    with open(_LOG, "a") as out:
        out.write(line + "\n")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a name: resolved in C, out of the table's sight, so refused


def _fenced(connect: Any, routes: dict[str, str]) -> Any:
    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] in routes:
            _record(f"route {address[0]} {address[1]}")
            return connect(self, (routes[address[0]], *address[1:]))
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            _record(f"connect {address[0]} {address[1]}")
            raise ConnectionRefusedError(111, "refused by the test fence (not loopback)")
        return connect(self, address)

    return guarded


def _answers(name: str, table: dict[str, list[list[str]]]) -> list[str]:
    assert _LOG is not None
    counts = Path(_LOG + ".dns")
    with open(counts, "a+") as state:
        fcntl.flock(state, fcntl.LOCK_EX)
        state.seek(0)
        seen: dict[str, int] = json.loads(state.read() or "{}")
        n = seen.get(name, 0)
        seen[name] = n + 1
        state.seek(0)
        state.truncate()
        state.write(json.dumps(seen))
    answer = table[name][min(n, len(table[name]) - 1)]
    _record(f"lookup {name} {','.join(answer)}")
    return answer


if _LOG:
    _ROUTES: dict[str, str] = json.loads(os.environ.get("DOCKYARD_TEST_FENCE_ROUTES", "{}"))
    socket.socket.connect = _fenced(socket.socket.connect, _ROUTES)  # type: ignore[method-assign]
    socket.socket.connect_ex = _fenced(socket.socket.connect_ex, _ROUTES)  # type: ignore[method-assign]
    _TABLE: dict[str, list[list[str]]] = json.loads(os.environ.get("DOCKYARD_TEST_FENCE_DNS", "{}"))
    _getaddrinfo = socket.getaddrinfo

    def _lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _TABLE:
            return _getaddrinfo(host, port, *args, **kwargs)
        found = []
        for address in _answers(name, _TABLE):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (
                (address, int(port or 0), 0, 0) if ":" in address else (address, int(port or 0))
            )
            found.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return found

    socket.getaddrinfo = _lookup
