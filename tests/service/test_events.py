"""The event contract on a real database: the ACR bytes of every action, append inside the
change's transaction, typed read-back, and one cursor per consumer."""

from __future__ import annotations

import json
import threading
import time
from unittest import mock

import pytest
from sqlalchemy import delete, func, insert, select

from dockyard.events import (
    GAP_WAIT_SECONDS,
    Action,
    Consumer,
    Cursor,
    Event,
    ManifestDeleteTarget,
    ManifestTarget,
    RepositoryTarget,
    RequestInfo,
    TagDeleteTarget,
    append,
    wire,
)
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import event_cursors, events

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "a" * 64
REFERRER = "sha256:" + "b" * 64
REQUEST = RequestInfo("req-1", "registry.example:5000", "PUT", "docker/27.0 go/go1.22")
EVENT_ID = "00000000-0000-4000-8000-000000000001"
CREATED_AT = 1764780000.25
_HEAD = '{"id":"' + EVENT_ID + '","timestamp":"2025-12-03T16:40:00.250000Z","action":'
_REQUEST = (
    ',"request":{"id":"req-1","host":"registry.example:5000","method":"PUT",'
    '"useragent":"docker/27.0 go/go1.22"}}'
)
_A, _B = DIGEST, REFERRER

# Each event and the bytes the code before the events package wrote for it (registry/events.py
# at the commit before this package, run with the same id and time): receivers see no change.
WIRE = [
    (
        Event(Action.PUSH, ManifestTarget("team/app", DIGEST, MANIFEST, 1234, "v1"), REQUEST),
        _HEAD
        + '"push","target":{"mediaType":"'
        + MANIFEST
        + '","size":1234,"digest":"'
        + _A
        + '","length":1234,"repository":"team/app","tag":"v1"}'
        + _REQUEST,
    ),
    (
        Event(Action.PUSH, ManifestTarget("team/app", DIGEST, MANIFEST, 1234)),
        _HEAD
        + '"push","target":{"mediaType":"'
        + MANIFEST
        + '","size":1234,"digest":"'
        + _A
        + '","length":1234,"repository":"team/app"}}',
    ),
    (
        Event(
            Action.CHART_PUSH,
            ManifestTarget("charts/mychart", DIGEST, MANIFEST, 99, "0.1.0"),
            REQUEST,
        ),
        _HEAD
        + '"chart_push","target":{"mediaType":"'
        + MANIFEST
        + '","size":99,"digest":"'
        + _A
        + '","repository":"charts/mychart","tag":"0.1.0","name":"mychart",'
        '"version":"0.1.0"}' + _REQUEST,
    ),
    (
        Event(Action.CHART_PUSH, ManifestTarget("charts/mychart", DIGEST, MANIFEST, 99), REQUEST),
        _HEAD
        + '"chart_push","target":{"mediaType":"'
        + MANIFEST
        + '","size":99,"digest":"'
        + _A
        + '","repository":"charts/mychart","name":"mychart","version":""}'
        + _REQUEST,
    ),
    (
        Event(Action.QUARANTINE, ManifestTarget("team/app", DIGEST, MANIFEST, 1234, "v1"), REQUEST),
        _HEAD
        + '"quarantine","target":{"mediaType":"'
        + MANIFEST
        + '","size":1234,"digest":"'
        + _A
        + '","length":1234,"repository":"team/app","tag":"v1"}'
        + _REQUEST,
    ),
    (
        Event(
            Action.REFERRER_PUSH,
            ManifestTarget("team/app", REFERRER, MANIFEST, 55, subject=DIGEST),
            REQUEST,
        ),
        _HEAD
        + '"referrer_push","target":{"mediaType":"'
        + MANIFEST
        + '","size":55,"digest":"'
        + _B
        + '","length":55,"repository":"team/app","subject":"'
        + _A
        + '"}'
        + _REQUEST,
    ),
    (
        Event(Action.DELETE, ManifestDeleteTarget("team/app", DIGEST, MANIFEST), REQUEST),
        _HEAD
        + '"delete","target":{"mediaType":"'
        + MANIFEST
        + '","digest":"'
        + _A
        + '","repository":"team/app"}'
        + _REQUEST,
    ),
    (
        Event(
            Action.CHART_DELETE, ManifestDeleteTarget("charts/mychart", DIGEST, MANIFEST), REQUEST
        ),
        _HEAD
        + '"chart_delete","target":{"mediaType":"'
        + MANIFEST
        + '","digest":"'
        + _A
        + '","repository":"charts/mychart"}'
        + _REQUEST,
    ),
    (
        Event(Action.TAG_DELETE, TagDeleteTarget("team/app", "v1", DIGEST), REQUEST),
        _HEAD
        + '"tag_delete","target":{"repository":"team/app","tag":"v1","digest":"'
        + _A
        + '"}'
        + _REQUEST,
    ),
    (
        Event(Action.DELETE, RepositoryTarget("team/app"), REQUEST),
        _HEAD + '"delete","target":{"repository":"team/app"}' + _REQUEST,
    ),
]


@pytest.mark.parametrize(
    ("event", "expected"), WIRE, ids=[f"{e.action}-{i}" for i, (e, _) in enumerate(WIRE)]
)
def test_acr_payload_bytes_are_unchanged(event: Event, expected: str) -> None:
    encoded = wire.encode(EVENT_ID, CREATED_AT, event)
    assert encoded == expected
    assert wire.decode(str(event.action), encoded) == event


def test_an_action_carries_only_its_targets() -> None:
    with pytest.raises(TypeError):
        Event(Action.PUSH, RepositoryTarget("team/app"))
    with pytest.raises(TypeError):
        Event(Action.TAG_DELETE, ManifestDeleteTarget("team/app", DIGEST, MANIFEST))


def test_every_action_round_trips_through_the_outbox(db: Database) -> None:
    appended = [event for event, _ in WIRE]
    with db.write() as conn:
        ids = [append(conn, event) for event in appended]
    with db.write() as conn:
        taken = Cursor(db, Consumer.WEBHOOKS).take(conn, 100, time.time())
    assert [stored.event for stored in taken] == appended
    assert [stored.id for stored in taken] == ids
    for stored in taken:
        # What a delivery sends is what was stored, and it is ACR's shape of the typed event.
        expected = wire.encode(stored.id, stored.created_at, stored.event)
        assert stored.payload == expected
        assert json.loads(stored.payload)["action"] == stored.event.action
    with db.read() as conn:
        columns = conn.execute(
            select(events.c.action, events.c.repository, events.c.tag).order_by(events.c.seq)
        ).all()
    assert [tuple(row) for row in columns] == [
        (str(e.action), e.repository, e.tag) for e in appended
    ]


def _append_then_fail(db: Database, event: Event) -> None:
    with db.write() as conn:
        append(conn, event)
        raise RuntimeError("the change failed after its event was appended")


def test_an_event_rolled_back_with_its_change_is_never_read(db: Database) -> None:
    pushed = Event(Action.PUSH, ManifestTarget("team/app", DIGEST, MANIFEST, 10, "v1"))
    with pytest.raises(RuntimeError, match="the change failed"):
        _append_then_fail(db, pushed)
    cursor = Cursor(db, Consumer.WEBHOOKS)
    assert not cursor.has_unread()
    with db.write() as conn:
        assert cursor.take(conn, 100, time.time()) == []
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0
    # The next committed event is read, and only it. (PostgreSQL does not give back the `seq`
    # the rolled-back event took, so there the cursor first waits for that gap to age.)
    with db.write() as conn:
        append(conn, pushed)
    assert cursor.has_unread()
    with db.write() as conn:
        later = time.time() + GAP_WAIT_SECONDS + 1
        assert [s.event for s in cursor.take(conn, 100, later)] == [pushed]


def _push(tag: str) -> Event:
    return Event(Action.PUSH, ManifestTarget("team/app", DIGEST, MANIFEST, 10, tag))


def test_each_consumer_reads_from_its_own_position(db: Database) -> None:
    with db.write() as conn:
        for tag in ("a", "b", "c"):
            append(conn, _push(tag))
    webhooks = Cursor(db, Consumer.WEBHOOKS)
    triggers = Cursor(db, Consumer.BASE_IMAGE_TRIGGERS)

    def tags(cursor: Cursor, limit: int) -> list[str | None]:
        with db.write() as conn:
            return [stored.event.tag for stored in cursor.take(conn, limit, time.time())]

    assert tags(webhooks, 2) == ["a", "b"]
    assert webhooks.has_unread()
    assert triggers.has_unread()
    assert tags(triggers, 100) == ["a", "b", "c"]
    assert not triggers.has_unread()
    assert tags(webhooks, 100) == ["c"]
    assert tags(webhooks, 100) == []
    with db.read() as conn:
        rows = dict(conn.execute(select(event_cursors.c.name, event_cursors.c.seq)).all())
    assert set(rows) == {"webhooks", "base-image-triggers"}
    assert rows["webhooks"] == rows["base-image-triggers"]


def _take_then_fail(db: Database, cursor: Cursor) -> None:
    with db.write() as conn:
        assert len(cursor.take(conn, 100, time.time())) == 1
        raise RuntimeError("the consumer's work failed")


def test_a_consumer_whose_work_rolls_back_reads_the_events_again(db: Database) -> None:
    with db.write() as conn:
        append(conn, _push("a"))
    cursor = Cursor(db, Consumer.BASE_IMAGE_TRIGGERS)
    with pytest.raises(RuntimeError, match="the consumer's work failed"):
        _take_then_fail(db, cursor)
    with db.write() as conn:
        assert [s.event.tag for s in cursor.take(conn, 100, time.time())] == ["a"]


def test_a_young_gap_stops_the_cursor_until_it_is_old(db: Database) -> None:
    with db.write() as conn:
        for tag in ("a", "b", "c"):
            append(conn, _push(tag))
    with db.write() as conn:  # as if `b`'s transaction had not committed yet
        middle = conn.execute(select(events.c.seq).where(events.c.tag == "b")).scalar_one()
        conn.execute(delete(events).where(events.c.seq == middle))
    cursor = Cursor(db, Consumer.WEBHOOKS)
    now = time.time()
    with db.write() as conn:
        assert [s.event.tag for s in cursor.take(conn, 100, now)] == ["a"]
    with db.write() as conn:
        assert cursor.take(conn, 100, now) == []
    with db.write() as conn:
        later = now + GAP_WAIT_SECONDS + 1
        assert [s.event.tag for s in cursor.take(conn, 100, later)] == ["c"]


def test_an_event_this_version_cannot_read_is_passed_over(db: Database) -> None:
    with db.write() as conn:
        append(conn, _push("a"))
        conn.execute(
            insert(events).values(
                id="00000000-0000-4000-8000-00000000abcd",
                created_at=time.time(),
                action="scan_done",  # written by a newer version
                repository="team/app",
                tag=None,
                payload='{"action":"scan_done"}',
            )
        )
        append(conn, _push("c"))
    cursor = Cursor(db, Consumer.WEBHOOKS)
    with mock.patch("dockyard.events.outbox.log") as log, db.write() as conn:
        assert [s.event.tag for s in cursor.take(conn, 100, time.time())] == ["a", "c"]
    assert log.warning.called
    assert not cursor.has_unread()


def test_two_first_takers_never_hand_out_an_event_twice(db: Database) -> None:
    # A fresh consumer has no cursor row, so the row lock of `take` has nothing to hold until
    # one taker inserts it: the second must wait and then start from the first one's position.
    with db.write() as conn:
        for tag in ("a", "b"):
            append(conn, _push(tag))
    first_took = threading.Event()
    taken: dict[str, list[str | None]] = {}

    def first() -> None:
        with db.write() as conn:
            taken["first"] = [
                s.event.tag for s in Cursor(db, Consumer.WEBHOOKS).take(conn, 100, time.time())
            ]
            first_took.set()
            time.sleep(0.5)  # the second taker starts while this transaction is open

    def second() -> None:
        first_took.wait(10)
        with db.write() as conn:
            taken["second"] = [
                s.event.tag for s in Cursor(db, Consumer.WEBHOOKS).take(conn, 100, time.time())
            ]

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert taken == {"first": ["a", "b"], "second": []}
