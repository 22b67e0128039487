"""Quarantine: with the policy on, a new push is held (pulls refused except to quarantine
readers) until a scanner passes it through /api/v1; the push fires a quarantine event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.auth_helpers import AuthServer, auth_server, basic, token_for
from tests.integration.helpers import assert_error, push_image
from tests.integration.test_webhooks import FAST, Receiver, create_hook, wait_for


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("quarantine"), **FAST) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.start()
    yield found
    found.stop()


def set_quarantine(owner: httpx.Client, enabled: bool) -> None:
    resp = owner.patch("/api/v1/registry", json={"quarantine_enabled": enabled})
    assert resp.status_code == 200, resp.text
    assert resp.json()["quarantine_enabled"] is enabled


def test_quarantined_push_is_held_until_a_scanner_passes_it(
    srv: AuthServer, owner: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    create_hook(owner, "quarantinehook", receiver.url, actions=["quarantine", "push"])
    reader_name, reader_password = srv.user("AcrPull")
    scanner_name, scanner_password = srv.user("AcrPull")
    srv.access.roles.assign(scanner_name, "AcrQuarantineWriter", "held/*", "test")
    puller = basic(reader_name, reader_password)
    scanner = basic(scanner_name, scanner_password)

    before = push_image(owner, "held/app", "before")
    set_quarantine(owner, True)
    try:
        image = push_image(owner, "held/app", "v1")
    finally:
        set_quarantine(owner, False)

    # A puller is refused, by tag and by digest; what was pushed before stays pullable.
    for reference in ("v1", image.digest):
        refused = owner.get(f"/v2/held/app/manifests/{reference}", headers=puller)
        assert_error(refused, 403, "DENIED")
        assert "quarantine" in refused.json()["errors"][0]["message"]
    assert owner.get("/v2/held/app/manifests/before", headers=puller).status_code == 200
    assert before.digest

    # A bearer token with pull (what docker uses) does not open it either.
    token = token_for(owner, puller, "repository:held/app:pull", service=srv.host)
    refused = owner.get("/v2/held/app/manifests/v1", headers={"Authorization": f"Bearer {token}"})
    assert_error(refused, 403, "DENIED")

    # The scanner reads it, lists it, and passes it.
    assert owner.get("/v2/held/app/manifests/v1", headers=scanner).content == image.body
    listed = owner.get("/api/v1/quarantine", params={"repository": "held/app"}, headers=scanner)
    assert listed.status_code == 200, listed.text
    assert [(m["digest"], m["state"], m["tags"]) for m in listed.json()] == [
        (image.digest, "quarantined", ["v1"])
    ]
    # A puller may neither list nor judge.
    assert_error(owner.get("/api/v1/quarantine", headers=puller), 403, "DENIED")
    verdict_url = f"/api/v1/quarantine/held/app/manifests/{image.digest}"
    assert_error(owner.put(verdict_url, json={"state": "passed"}, headers=puller), 403, "DENIED")
    # The scanner's role covers held/* only.
    other = owner.put(
        f"/api/v1/quarantine/elsewhere/manifests/{image.digest}",
        json={"state": "passed"},
        headers=scanner,
    )
    assert_error(other, 403, "DENIED")

    passed = owner.put(verdict_url, json={"state": "passed"}, headers=scanner)
    assert passed.status_code == 200, passed.text
    assert passed.json()["state"] == "passed"
    pulled = owner.get("/v2/held/app/manifests/v1", headers=puller)
    assert pulled.status_code == 200
    assert pulled.content == image.body
    still = owner.get(
        "/api/v1/quarantine", params={"state": "quarantined", "repository": "held/app"}
    )
    assert still.json() == []

    # The quarantine event fired for the held push (and only for it), in ACR's push shape.
    wait_for(
        lambda: any(e["action"] == "quarantine" for e in receiver.events()),
        what="the quarantine event",
    )
    held = [e for e in receiver.events() if e["action"] == "quarantine"]
    assert len(held) == 1
    assert held[0]["target"]["digest"] == image.digest
    assert held[0]["target"]["tag"] == "v1"
    assert held[0]["target"]["repository"] == "held/app"
    assert set(held[0]) >= {"id", "timestamp", "action", "target", "request"}


def test_verdicts_are_checked(srv: AuthServer, owner: httpx.Client) -> None:
    image = push_image(owner, "held/checks", "v1")
    unknown = owner.put(
        "/api/v1/quarantine/held/checks/manifests/sha256:" + "0" * 64, json={"state": "passed"}
    )
    assert_error(unknown, 404, "MANIFEST_UNKNOWN")
    bad = owner.put(
        f"/api/v1/quarantine/held/checks/manifests/{image.digest}", json={"state": "clean"}
    )
    assert_error(bad, 400)
    # An owner may put a manifest pushed before the policy into quarantine by hand.
    held = owner.put(
        f"/api/v1/quarantine/held/checks/manifests/{image.digest}", json={"state": "quarantined"}
    )
    assert held.status_code == 200, held.text
    puller = basic(*srv.user("AcrPull"))
    refused = owner.get("/v2/held/checks/manifests/v1", headers=puller)
    assert_error(refused, 403, "DENIED")
