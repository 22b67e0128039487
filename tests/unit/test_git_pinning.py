"""git is handed the address the check passed: it connects there without resolving the host
(a second lookup could answer another address), for smart/dumb HTTP and for git://. Real git
against a repository served on loopback under a name that no DNS knows."""

from __future__ import annotations

import functools
import ipaddress
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dockyard.tasks.archive import SourceInvalid
from dockyard.tasks.git import remote_head, transport_options

UNKNOWN_NAME = "pinned-name.invalid"  # .invalid never resolves
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A bare repository with one commit on `main`, served over dumb HTTP on loopback; the
    port and the commit."""
    bare = tmp_path / "repo.git"
    _git("init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "work"
    _git("clone", "-q", str(bare), str(work))
    _git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
        cwd=work,
    )
    _git("push", "-q", "origin", "HEAD:main", cwd=work)
    _git("update-server-info", cwd=bare)
    commit = _git("rev-parse", "HEAD", cwd=work)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], commit
    server.shutdown()
    server.server_close()


def test_git_connects_to_the_pinned_address_without_resolving(served: tuple[int, str]) -> None:
    port, commit = served
    url = f"http://{UNKNOWN_NAME}:{port}/repo.git"
    with pytest.raises(SourceInvalid, match="Could not resolve host"):
        remote_head(url, "main", None)  # unpinned, git would resolve the name itself
    assert remote_head(url, "main", None, LOOPBACK).commit == commit


def test_the_options_pin_each_transport() -> None:
    https = transport_options("https://git.example:8443/r.git", ipaddress.ip_address("8.8.8.8"))
    assert "http.curloptResolve=git.example:8443:8.8.8.8" in https
    assert "http.proxy=" in https  # a proxy would resolve the name itself
    assert "http.followRedirects=false" in https
    v6 = transport_options("https://git.example/r.git", ipaddress.ip_address("2606:4700::1"))
    assert "http.curloptResolve=git.example:443:[2606:4700::1]" in v6
    daemon = transport_options("git://git.example/r.git", ipaddress.ip_address("8.8.8.8"))
    assert "url.git://8.8.8.8:9418/.insteadOf=git://git.example/" in daemon
    assert "protocol.allow=never" in daemon
    assert "protocol.git.allow=always" in daemon
    assert not any("curloptResolve" in o for o in transport_options("https://1.1.1.1/r.git"))
