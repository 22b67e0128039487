"""Webhooks: events fanned out from the outbox and POSTed to real HTTP receivers. The
definitions' validation is checked in process: tests/protocol/test_webhooks.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ServerProcess, free_port
from tests.integration.egress_helpers import Fence
from tests.integration.test_durability import MANIFEST, push_blob, push_image

FAST = {
    "DOCKYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "DOCKYARD_WEBHOOK_POLL_SECONDS": "0.2",
    "DOCKYARD_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "DOCKYARD_WEBHOOK_RETRY_MAX_SECONDS": "1",
    "DOCKYARD_WEBHOOK_TIMEOUT_SECONDS": "2",
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result


@dataclass
class Receiver:
    """An HTTP receiver in a thread: records every POST, answers 500 to the first
    `fail_first` of them, and can be stopped and started again on the same port."""

    port: int = 0  # 0: the system picks a free port on the first start, kept for restarts
    fail_first: int = 0
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    calls: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.calls += 1
                    failing = receiver.calls <= receiver.fail_first
                    if not failing and 200 <= receiver.status < 300:
                        receiver.requests.append(
                            Received(self.path, dict(self.headers.items()), body)
                        )
                status = 500 if failing else receiver.status
                answer = b'{"ok": %s}' % (b"false" if status >= 300 else b"true")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Receiver", "test")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.event for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.start()
    yield found
    found.stop()


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def create_hook(http: httpx.Client, name: str, uri: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "uri": uri, "actions": ["push", "delete"], **extra}
    resp = http.post("/api/v1/webhooks", json=body)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


def pending(server: ServerProcess) -> int:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(
                text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            ).scalar()
    finally:
        engine.dispose()
    return int(count or 0)


def test_push_is_delivered_signed_in_acr_shape(
    server_factory: type[ServerProcess], receiver: Receiver
) -> None:
    server = server_factory(env=FAST)
    agent = {"User-Agent": "docker/27.0 go/go1.22"}
    with httpx.Client(base_url=server.url, timeout=30, headers=agent) as http:
        hook = create_hook(
            http, "hooksigned", receiver.url, headers={"Authorization": "Bearer abc"}
        )
        assert len(hook["secret"]) == 64
        assert "secret" not in http.get("/api/v1/webhooks/hooksigned").json()
        digest = push_image(http, "hooks/app", "v1", [os.urandom(64)])
    wait_for(lambda: len(receiver.requests) == 1, what="the push event")
    got = receiver.requests[0]
    event = got.event
    assert event["action"] == "push"
    assert event["target"]["repository"] == "hooks/app"
    assert event["target"]["tag"] == "v1"
    assert event["target"]["digest"] == digest
    assert event["request"]["useragent"] == "docker/27.0 go/go1.22"
    assert event["request"]["method"] == "PUT"
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer abc"
    assert headers["x-dockyard-event-id"] == event["id"]
    assert headers["idempotency-key"] == event["id"]
    expected = hmac.new(hook["secret"].encode(), got.body, hashlib.sha256).hexdigest()
    assert headers["x-dockyard-signature"] == f"sha256={expected}"

    with httpx.Client(base_url=server.url, timeout=30) as http:
        deliveries = http.get("/api/v1/webhooks/hooksigned/events").json()
    assert len(deliveries) == 1
    delivery = deliveries[0]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["response_status"] == 200
    assert delivery["response_headers"]["x-receiver"] == "test"
    assert delivery["response_excerpt"] == '{"ok": true}'
    assert delivery["request_headers"]["X-Dockyard-Event-Id"] == event["id"]
    assert json.loads(delivery["request_body"]) == event
    assert delivery["duration_ms"] is not None


HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def push_chart(http: httpx.Client, repo: str, version: str) -> tuple[str, int]:
    """A chart stored the way `helm push` stores it (Helm's config and layer media types);
    the manifest's digest and size."""
    config = json.dumps({"apiVersion": "v2", "name": repo.rsplit("/", 1)[-1], "version": version})
    digests = {}
    for name, blob in (("config", config.encode()), ("chart", os.urandom(300))):
        digests[name] = (push_blob(http, repo, blob), len(blob))
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": HELM_CONFIG,
                "digest": digests["config"][0],
                "size": digests["config"][1],
            },
            "layers": [
                {
                    "mediaType": HELM_CHART,
                    "digest": digests["chart"][0],
                    "size": digests["chart"][1],
                }
            ],
        }
    ).encode()
    resp = http.put(
        f"/v2/{repo}/manifests/{version}", content=body, headers={"Content-Type": MANIFEST}
    )
    assert resp.status_code == 201, resp.text
    return resp.headers["Docker-Content-Digest"], len(body)


def test_a_chart_push_reaches_push_and_chart_push_subscribers(
    server_factory: type[ServerProcess],
) -> None:
    """ACR sends `push` for any OCI artifact, Helm charts included: a webhook that only
    listens to `push` hears a `helm push`, and one on `chart_push` hears it too."""
    receivers = {name: Receiver() for name in ("onpush", "oncharts")}
    for found in receivers.values():
        found.start()
    try:
        server = server_factory(env=FAST)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            create_hook(http, "onpush", receivers["onpush"].url, actions=["push"])
            create_hook(http, "oncharts", receivers["oncharts"].url, actions=["chart_push"])
            digest, size = push_chart(http, "helm/demo", "0.1.0")
            wait_for(lambda: len(receivers["onpush"].requests) == 1, what="the push event")
            wait_for(lambda: len(receivers["oncharts"].requests) == 1, what="the chart event")
            time.sleep(0.5)  # nothing else follows
            [pushed] = receivers["onpush"].events()
            [charted] = receivers["oncharts"].events()
            assert pushed["action"] == "push"
            assert pushed["target"] == {
                "mediaType": MANIFEST,
                "size": size,
                "digest": digest,
                "length": size,
                "repository": "helm/demo",
                "tag": "0.1.0",
            }
            assert charted["action"] == "chart_push"
            assert charted["target"] == {
                "mediaType": MANIFEST,
                "size": size,
                "digest": digest,
                "repository": "helm/demo",
                "tag": "0.1.0",
                "name": "demo",
                "version": "0.1.0",
            }
            assert pushed["id"] != charted["id"]
            assert pushed["request"] == charted["request"]
            listed = http.get("/api/v1/webhooks/onpush/events").json()
            assert [(d["action"], d["status"]) for d in listed] == [("push", "delivered")]
    finally:
        for found in receivers.values():
            found.stop()


def test_scope_and_actions_filter(server_factory: type[ServerProcess]) -> None:
    receivers = {name: Receiver() for name in ("scopeall", "scopetag", "scoperepo", "scopewild")}
    for found in receivers.values():
        found.start()
    try:
        server = server_factory(env=FAST)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            create_hook(http, "scopeall", receivers["scopeall"].url)
            create_hook(http, "scopetag", receivers["scopetag"].url, scope="scoped/a:v1")
            create_hook(http, "scoperepo", receivers["scoperepo"].url, scope="scoped/a:*")
            create_hook(http, "scopewild", receivers["scopewild"].url, scope="other/*:*")
            create_hook(
                http, "scopeoff", receivers["scopeall"].url, scope="nothing", status="disabled"
            )
            push_image(http, "scoped/a", "v1", [os.urandom(32)])
            push_image(http, "scoped/a", "v2", [os.urandom(32)])
            push_image(http, "scoped/b", "v1", [os.urandom(32)])
            push_image(http, "other/x", "v1", [os.urandom(32)])
        wait_for(lambda: len(receivers["scopeall"].requests) == 4, what="every event")
        time.sleep(1.0)

        def seen(name: str) -> list[tuple[str, str]]:
            return [
                (e["target"]["repository"], e["target"]["tag"]) for e in receivers[name].events()
            ]

        assert len(seen("scopeall")) == 4
        assert seen("scopetag") == [("scoped/a", "v1")]
        assert seen("scoperepo") == [("scoped/a", "v1"), ("scoped/a", "v2")]
        assert seen("scopewild") == [("other/x", "v1")]
    finally:
        for found in receivers.values():
            found.stop()


def test_failing_receiver_gets_the_event_after_retries(
    server_factory: type[ServerProcess], receiver: Receiver
) -> None:
    receiver.fail_first = 3
    server = server_factory(env=FAST)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookretry", receiver.url)
        push_image(http, "retry/app", "v1", [os.urandom(32)])
        wait_for(lambda: len(receiver.requests) == 1, what="the retried event")
        assert receiver.calls == 4
        delivery = http.get("/api/v1/webhooks/hookretry/events").json()[0]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 4
    assert delivery["response_status"] == 200


def test_refused_and_dead_after_horizon(
    server_factory: type[ServerProcess], receiver: Receiver
) -> None:
    receiver.status = 404
    server = server_factory(env={**FAST, "DOCKYARD_WEBHOOK_RETRY_HORIZON_SECONDS": "1"})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookrefused", receiver.url)
        create_hook(http, "hookdown", f"http://127.0.0.1:{free_port()}/nobody")
        push_image(http, "dead/app", "v1", [os.urandom(32)])

        def statuses(name: str) -> list[str]:
            answer = http.get(f"/api/v1/webhooks/{name}/events").json()
            return [d["status"] for d in answer]

        wait_for(lambda: statuses("hookrefused") == ["dead"], what="a refused delivery")
        refused = http.get("/api/v1/webhooks/hookrefused/events").json()[0]
        assert refused["attempts"] == 1
        assert refused["response_status"] == 404
        wait_for(lambda: statuses("hookdown") == ["dead"], what="the horizon to pass")
        down = http.get("/api/v1/webhooks/hookdown/events").json()[0]
        assert down["attempts"] >= 2
        assert down["response_status"] is None
        assert down["last_error"]


def test_receiver_down_then_back_gets_every_event_in_order(
    server_factory: type[ServerProcess], receiver: Receiver
) -> None:
    receiver.stop()
    server = server_factory(env=FAST)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookorder", receiver.url)
        for index in range(5):
            for repo in ("order/a", "order/b"):
                push_image(http, repo, f"v{index}", [os.urandom(16)])
        time.sleep(1.5)  # several failed attempts while the receiver is down
        attempts = [d["attempts"] for d in http.get("/api/v1/webhooks/hookorder/events").json()]
        # Only the head of each repository's queue is tried while it fails.
        assert sum(1 for a in attempts if a > 0) == 2
    receiver.start()
    wait_for(lambda: len(receiver.requests) == 10, what="every event after the restart")
    for repo in ("order/a", "order/b"):
        tags = [e["target"]["tag"] for e in receiver.events() if e["target"]["repository"] == repo]
        assert tags == [f"v{i}" for i in range(5)]


def test_events_survive_kill9_before_delivery(
    server_factory: type[ServerProcess], receiver: Receiver
) -> None:
    # The first life never polls, so nothing is fanned out or sent before the crash.
    server = server_factory(env={**FAST, "DOCKYARD_WEBHOOK_POLL_SECONDS": "3600"})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookcrash", receiver.url)
        for index in range(3):
            push_image(http, "crash/app", f"v{index}", [os.urandom(16)])
    server.kill9()
    assert receiver.requests == []
    server.extra_env = dict(FAST)
    server.start()
    wait_for(lambda: len(receiver.requests) == 3, what="delivery after the crash")
    assert [e["target"]["tag"] for e in receiver.events()] == ["v0", "v1", "v2"]


def test_pending_deliveries_survive_kill9(
    server_factory: type[ServerProcess], receiver: Receiver
) -> None:
    receiver.stop()
    server = server_factory(env=FAST)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookpend", receiver.url)
        push_image(http, "pend/app", "v1", [os.urandom(16)])
        push_image(http, "pend/app", "v2", [os.urandom(16)])
    wait_for(lambda: pending(server) == 2, what="the pending deliveries")
    server.kill9()
    receiver.start()
    server.start()
    wait_for(lambda: len(receiver.requests) == 2, what="delivery after the crash")
    assert [e["target"]["tag"] for e in receiver.events()] == ["v1", "v2"]


def test_ping_and_list_events(server_factory: type[ServerProcess], receiver: Receiver) -> None:
    server = server_factory(env=FAST)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookping", receiver.url)
        resp = http.post("/api/v1/webhooks/hookping/ping")
        assert resp.status_code == 200, resp.text
        ping = resp.json()
        assert ping["status"] == "delivered"
        assert ping["action"] == "ping"
        assert receiver.events()[0]["action"] == "ping"
        assert receiver.events()[0]["id"] == ping["event_id"]
        push_image(http, "ping/app", "v1", [os.urandom(16)])
        wait_for(lambda: len(receiver.requests) == 2, what="the push")
        listed = http.get("/api/v1/webhooks/hookping/events").json()
        assert [d["action"] for d in listed] == ["push", "ping"]  # newest first


NOT_PUBLIC_URIS = (
    "http://100.100.100.200/latest/meta-data",  # a cloud's metadata service, in 100.64.0.0/10
    "http://100.64.0.1/hook",
    "http://192.0.0.8/hook",
    "http://198.18.0.1/hook",
    "http://[64:ff9b::a9fe:a9fe]/latest",  # NAT64 of 169.254.169.254
    "http://[2002:c0a8:101::1]/hook",  # 6to4 of 192.168.1.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
    "http://[::ffff:127.0.0.1]/hook",
    "http://metadata.test/latest",  # a name that resolves to 100.100.100.200
)


def test_addresses_that_are_not_public_are_refused(
    server_factory: type[ServerProcess], tmp_path: Any
) -> None:
    fence = Fence(tmp_path, {"metadata.test": [["100.100.100.200"]]})
    server = server_factory(env={"DOCKYARD_WEBHOOK_POLL_SECONDS": "0.2", **fence.env()})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for uri in NOT_PUBLIC_URIS:
            resp = http.post(
                "/api/v1/webhooks", json={"name": "hooknotpublic", "uri": uri, "actions": ["push"]}
            )
            assert resp.status_code == 400, (uri, resp.text)
            assert "webhook_allow_private_targets" in resp.text, (uri, resp.text)
        assert http.get("/api/v1/webhooks").json() == []
        push_image(http, "notpublic/app", "v1", [os.urandom(16)])
    assert fence.lookups() == ["metadata.test 100.100.100.200"]
    assert fence.connects() == []


def test_a_name_that_rebinds_to_loopback_after_the_check_is_not_delivered_to(
    server_factory: type[ServerProcess], receiver: Receiver, tmp_path: Any
) -> None:
    """DNS rebinding: rebind.test answers a public address to the check when the webhook is
    created and to the first lookup after it, then 127.0.0.1, where a receiver listens. The
    server must connect only to an address it checked: the public one (the fence refuses
    that connection before it leaves), never the receiver."""
    fence = Fence(tmp_path, {"rebind.test": [["93.184.215.14"], ["93.184.215.14"], ["127.0.0.1"]]})
    fast = {k: v for k, v in FAST.items() if k != "DOCKYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS"}
    server = server_factory(env={**fast, **fence.env()})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(http, "hookrebind", f"http://rebind.test:{receiver.port}/hook")
        push_image(http, "rebind/app", "v1", [os.urandom(16)])

        def attempts() -> list[dict[str, Any]]:
            listed: list[dict[str, Any]] = http.get("/api/v1/webhooks/hookrebind/events").json()
            return listed

        wait_for(
            lambda: receiver.calls > 0 or sum(d["attempts"] for d in attempts()) >= 3,
            what="three attempts",
        )
        errors = [d["last_error"] for d in attempts()]
    assert receiver.requests == [], "the rebound address was connected to"
    assert receiver.calls == 0
    assert fence.connects(), "the checked address was not even tried"
    assert set(fence.connects()) == {f"93.184.215.14 {receiver.port}"}
    assert any("refused target" in (e or "") and "127.0.0.1" in (e or "") for e in errors), errors


def test_cli_commands(server_factory: type[ServerProcess], receiver: Receiver) -> None:
    server = server_factory(env=FAST)
    registry = ("-r", server.url)

    def ok(*args: str) -> str:
        done = server.dockyard(*args, *registry)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    created = ok(
        "webhook",
        "create",
        "--name",
        "clihook",
        "--uri",
        receiver.url,
        "--actions",
        "push,delete",
        "--scope",
        "cli/app:*",
        "--headers",
        "X-Team=blue",
        "-o",
        "json",
    )
    assert json.loads(created)["scope"] == "cli/app:*"
    assert "clihook" in ok("webhook", "list")
    shown = json.loads(ok("webhook", "show", "--name", "clihook", "-o", "json"))
    assert shown["headers"] == {"X-Team": "blue"}
    assert shown["actions"] == ["push", "delete"]
    updated = json.loads(
        ok("webhook", "update", "--name", "clihook", "--status", "disabled", "-o", "json")
    )
    assert updated["status"] == "disabled"
    ok("webhook", "update", "--name", "clihook", "--status", "enabled")
    assert "delivered" in ok("webhook", "ping", "--name", "clihook")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        push_image(http, "cli/app", "v1", [os.urandom(16)])
    wait_for(lambda: len(receiver.requests) == 2, what="the push")
    assert receiver.requests[1].headers["X-Team"] == "blue"
    table = ok("webhook", "list-events", "--name", "clihook")
    assert "push" in table
    assert "ping" in table
    events = json.loads(ok("webhook", "list-events", "--name", "clihook", "-o", "json"))
    assert [e["action"] for e in events] == ["push", "ping"]
    ok("webhook", "delete", "--name", "clihook", "--yes")
    assert json.loads(ok("webhook", "list", "-o", "json")) == []
