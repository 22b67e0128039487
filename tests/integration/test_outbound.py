"""Requests the server and the CLI send to hosts that users name (netguard.outbound_client,
spec/challenge.py), attacked: a public-looking host that redirects to loopback, and hostile
`WWW-Authenticate` challenges from a source registry or from a registry one logs in to.

A public host is played by the egress fence (egress_helpers.Fence): `public.test` resolves to
93.184.215.14, and the fence routes connections to that address to a local server."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.egress_helpers import Fence
from tests.integration.helpers import assert_error
from tests.integration.test_durability import push_image
from tests.integration.test_webhooks import create_hook, wait_for

PUBLIC = "93.184.215.14"
ALLOW_PRIVATE_IMPORTS = {"DOCKYARD_IMPORT_ALLOW_PRIVATE_SOURCES": "true"}

# (method, path) -> (status, headers, body)
Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class Seen:
    method: str
    path: str
    body: bytes


@dataclass
class Scripted:
    """A local HTTP server whose every answer is `answer(method, path)`; records requests."""

    answer: Callable[[str, str], Answer]
    seen: list[Seen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self) -> Scripted:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                scripted.seen.append(Seen(self.command, self.path, body))
                status, headers, content = scripted.answer(self.command, self.path)
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(OSError):  # a client that stopped reading
                        self.wfile.write(content)

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def loopback_target() -> Iterator[Scripted]:
    """What a redirect points at: on 127.0.0.1, and must never be asked anything."""
    target = Scripted(lambda method, path: (200, [], b"{}")).start()
    yield target
    target.stop()


@pytest.fixture
def redirector(loopback_target: Scripted) -> Iterator[Scripted]:
    """Answers every request with a redirect to the same path on 127.0.0.1."""
    port = loopback_target.port

    def answer(method: str, path: str) -> Answer:
        return 307, [("Location", f"http://127.0.0.1:{port}{path}")], b""

    front = Scripted(answer).start()
    yield front
    front.stop()


def _no_traceback(server: ServerProcess) -> None:
    assert "Traceback" not in server.log(), server.log()[-3000:]


# --- a redirect from a public host to loopback ------------------------------------------------


def test_an_import_redirected_to_loopback_is_refused_naming_the_address(
    server_factory: type[ServerProcess],
    tmp_path: Path,
    redirector: Scripted,
    loopback_target: Scripted,
) -> None:
    fence = Fence(tmp_path, {"public.test": [[PUBLIC]]}, {PUBLIC: "127.0.0.1"})
    guarded = server_factory(env=fence.env())
    with httpx.Client(base_url=guarded.url, timeout=60) as http:
        resp = http.post(
            "/api/v1/imports",
            json={"source": f"http://public.test:{redirector.port}/team/app:v1"},
        )
    errors = assert_error(resp, 403, "DENIED")
    message = errors[0]["message"]
    assert "resolves to 127.0.0.1, a non-public address" in message, errors
    assert "import_allow_private_sources" in message, errors
    assert [s.path for s in redirector.seen] == ["/v2/team/app/manifests/v1"]
    assert fence.routed() == [f"{PUBLIC} {redirector.port}"]
    assert loopback_target.seen == [], "the redirect's loopback target was asked"
    _no_traceback(guarded)


def test_a_webhook_redirected_to_loopback_never_reaches_it(
    server_factory: type[ServerProcess],
    tmp_path: Path,
    redirector: Scripted,
    loopback_target: Scripted,
) -> None:
    """Deliveries follow no redirect at all: the 307 is the attempt's answer, and the
    loopback target hears nothing."""
    fence = Fence(tmp_path, {"public.test": [[PUBLIC]]}, {PUBLIC: "127.0.0.1"})
    env = {
        "DOCKYARD_WEBHOOK_POLL_SECONDS": "0.2",
        "DOCKYARD_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "DOCKYARD_WEBHOOK_TIMEOUT_SECONDS": "2",
    }
    server = server_factory(env={**env, **fence.env()})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookredirect", f"http://public.test:{redirector.port}/hook")
        push_image(http, "redirect/app", "v1", [os.urandom(16)])

        def attempts() -> list[dict[str, Any]]:
            listed: list[dict[str, Any]] = http.get("/api/v1/webhooks/hookredirect/events").json()
            return listed

        wait_for(lambda: sum(d["attempts"] for d in attempts()) >= 1, what="an attempt")
        errors = {d["last_error"] for d in attempts()}
    assert errors == {"HTTP 307"}, errors
    assert redirector.seen, "the public-looking host was not asked"
    assert loopback_target.seen == [], "the redirect's loopback target was asked"
    _no_traceback(server)


# --- hostile challenges ------------------------------------------------------------------------

HOSTILE_CHALLENGES = [
    'Bearer realm="http://[::1"',  # not a URL at all (httpx.InvalidURL is no HTTPError)
    'Bearer realm="http://[zz/token"',
    'Bearer realm="unterminated',
    'Bearer realm="http://127.0.0.1:1/t",realm="again"',
    'Bearer realm="file:///etc/passwd"',
    'Bearer realm="http://127.0.0.1:1/token", scope="x" service="y"',
    "Bearer realm=" + "x" * 10_000,
    "Bearer \x01\x02",
    ", , ,",
    'Bearer realm=""',
]


def test_hostile_challenges_end_an_import_with_an_error_answer(
    server_factory: type[ServerProcess],
) -> None:
    """A source that answers 401 with a malformed or hostile challenge: an error answer
    (502 UPSTREAM_UNAVAILABLE, the source's fault), never a 500 or a traceback."""
    challenges: list[str] = []

    def answer(method: str, path: str) -> Answer:
        return 401, [("WWW-Authenticate", challenges[-1])], b"{}"

    source = Scripted(answer).start()
    importer = server_factory(env=ALLOW_PRIVATE_IMPORTS)
    try:
        with httpx.Client(base_url=importer.url, timeout=60) as http:
            for challenge in HOSTILE_CHALLENGES:
                challenges.append(challenge)
                resp = http.post(
                    "/api/v1/imports",
                    json={"source": f"127.0.0.1:{source.port}/team/app:v1"},
                )
                assert resp.status_code == 502, (challenge, resp.text)
                assert_error(resp, 502, "UPSTREAM_UNAVAILABLE")
    finally:
        source.stop()
    _no_traceback(importer)


def test_an_endless_token_answer_is_not_read_whole(server_factory: type[ServerProcess]) -> None:
    """A token service that answers 32 MiB: the importer reads a bounded part of it and
    answers 502, rather than holding whatever the source sends."""
    port: list[int] = []

    def answer(method: str, path: str) -> Answer:
        if path.startswith("/v2/"):
            realm = f"http://127.0.0.1:{port[0]}/token"
            return 401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="s"')], b"{}"
        return 200, [("Content-Type", "application/json")], b" " * (32 * 1024 * 1024)

    source = Scripted(answer).start()
    port.append(source.port)
    importer = server_factory(env=ALLOW_PRIVATE_IMPORTS)
    try:
        with httpx.Client(base_url=importer.url, timeout=60) as http:
            resp = http.post(
                "/api/v1/imports", json={"source": f"127.0.0.1:{source.port}/team/app:v1"}
            )
    finally:
        source.stop()
    errors = assert_error(resp, 502, "UPSTREAM_UNAVAILABLE")
    assert "token service answered more than" in errors[0]["message"], errors
    _no_traceback(importer)


@pytest.fixture
def token_registry() -> Iterator[tuple[Scripted, list[str]]]:
    """A registry whose /v2/ answers 401 with the last challenge of the list, and whose
    token service refuses every login (recording what was asked)."""
    challenges: list[str] = []

    def answer(method: str, path: str) -> Answer:
        if path.startswith("/v2/"):
            return 401, [("WWW-Authenticate", challenges[-1])], b"{}"
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"wrong password"}]}'
        return 401, [("Content-Type", "application/json")], body

    registry = Scripted(answer).start()
    yield registry, challenges
    registry.stop()


def _login(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(DOCKYARD_CLI_CONFIG=str(tmp_path / "cli.json"), HOME=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "login", "-r", url, "-u", "someone", "-p", "pw"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): the CLI's login
# against a scripted registry; no Dockyard server, no database.
@pytest.mark.db_independent
def test_login_reads_the_service_of_a_quoted_challenge(
    token_registry: tuple[Scripted, list[str]], tmp_path: Path
) -> None:
    """Commas, spaces and escaped quotes inside the quoted service name reach the token
    service as they are."""
    registry, challenges = token_registry
    challenges.append(
        'Bearer realm="http://elsewhere.example/oauth2/token", '
        'service="reg\\"istry, one" , scope="repository:a:pull"'
    )
    done = _login(f"http://127.0.0.1:{registry.port}", tmp_path)
    assert done.returncode == 1, done
    assert "wrong password" in done.stdout + done.stderr
    [asked] = [s for s in registry.seen if s.path == "/oauth2/token"]
    assert parse_qs(asked.body.decode())["service"] == ['reg"istry, one']


@pytest.mark.db_independent  # as the test above
@pytest.mark.parametrize("challenge", ['Bearer realm="unterminated', 'Bearer service="a" "b"'])
def test_login_refuses_a_malformed_challenge_clearly(
    token_registry: tuple[Scripted, list[str]], tmp_path: Path, challenge: str
) -> None:
    registry, challenges = token_registry
    challenges.append(challenge)
    done = _login(f"http://127.0.0.1:{registry.port}", tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "malformed WWW-Authenticate" in output, output
    assert "Traceback" not in output, output
    assert [s.path for s in registry.seen] == ["/v2/"], "the token service was asked anyway"
    assert (
        not (tmp_path / "cli.json").exists()
        or json.loads((tmp_path / "cli.json").read_text()).get("registries", {}) == {}
    )
