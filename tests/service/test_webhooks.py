"""The webhooks wing in-process: definitions raise the common error kinds, the fan-out turns
typed outbox events into deliveries carrying the stored bytes, and run_once sends them."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.events import Action, Event, ManifestTarget, TagDeleteTarget, append
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import events, webhook_deliveries
from dockyard.webhooks import DeliveryStatus, Webhooks, WebhookSettings, WebhookStatus

DIGEST = "sha256:" + "d" * 64


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def wing(db: Database) -> Webhooks:
    return Webhooks(db, WebhookSettings(allow_private_targets=True, timeout_seconds=2))


def test_definitions_raise_the_common_kinds(wing: Webhooks) -> None:
    created = wing.definitions.create("hookone", "http://127.0.0.1:9/x", ["push"])
    assert created.webhook.actions == (Action.PUSH,)
    assert created.webhook.status is WebhookStatus.ENABLED
    assert len(created.secret) == 64
    with pytest.raises(Conflict):
        wing.definitions.create("hookone", "http://127.0.0.1:9/x", ["push"])
    with pytest.raises(Invalid):
        wing.definitions.create("hooktwo", "http://127.0.0.1:9/x", ["pull"])
    for missing in (
        lambda: wing.definitions.get("nosuchhook"),
        lambda: wing.definitions.delete("nosuchhook"),
        lambda: wing.delivery.history("nosuchhook"),
    ):
        with pytest.raises(NotFound):
            missing()


def test_fan_out_matches_scope_and_action_and_keeps_the_stored_bytes(
    wing: Webhooks, db: Database
) -> None:
    port = _closed_port()
    wing.definitions.create("hookapp", f"http://127.0.0.1:{port}/", ["push"], scope="team/*:v*")
    wing.definitions.create("hookdel", f"http://127.0.0.1:{port}/", ["tag_delete"])
    with db.write() as conn:
        append(conn, Event(Action.PUSH, ManifestTarget("team/app", DIGEST, "m", 1, "v1")))
        append(conn, Event(Action.PUSH, ManifestTarget("team/app", DIGEST, "m", 1, "latest")))
        append(conn, Event(Action.PUSH, ManifestTarget("other/app", DIGEST, "m", 1, "v1")))
        append(conn, Event(Action.TAG_DELETE, TagDeleteTarget("team/app", "v1", DIGEST)))
    assert wing.has_work()
    assert wing.fanout.run_once() == 2
    assert wing.fanout.run_once() == 0
    with db.read() as conn:
        stored = dict(conn.execute(select(events.c.id, events.c.payload)).all())
        deliveries = conn.execute(
            select(
                webhook_deliveries.c.webhook,
                webhook_deliveries.c.event_id,
                webhook_deliveries.c.request_body,
            ).order_by(webhook_deliveries.c.id)
        ).all()
    assert [row.webhook for row in deliveries] == ["hookapp", "hookdel"]
    for row in deliveries:
        assert row.request_body == stored[row.event_id]

    # Nobody listens: each due delivery is attempted once and stays pending for a retry.
    assert wing.run_once() == 2
    history = wing.delivery.history("hookapp")
    assert [d.status for d in history] == [DeliveryStatus.PENDING]
    assert history[0].attempts == 1
    assert history[0].action == "push"
    assert history[0].last_error is not None
    assert not wing.delivery.has_due()  # its retry is in the future
