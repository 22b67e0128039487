"""The outbox (`events`): `append` in the transaction of the change, `read` in `seq` order.

A change and its event commit together or not at all. Events get their `seq` inside the
writing transaction, so a lower `seq` can commit after a higher one; readers go through a
cursor (events/cursors.py), which waits at such gaps.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.engine import Row

from dockyard.events.model import Event, StoredEvent
from dockyard.events.wire import PayloadInvalid, decode, encode
from dockyard.storage.db.schema import events

log = logging.getLogger("dockyard.events")

# Built once: the push path appends an event per tag (see "The registry core" in
# docs/architecture.md on prebuilt statements).
_INSERT_EVENT = events.insert()


def append(conn: Connection, event: Event) -> str:
    """Append the event in the caller's (write) transaction; its id."""
    now = time.time()
    event_id = str(uuid.uuid4())
    row = {
        "id": event_id,
        "created_at": now,
        "action": str(event.action),
        "repository": event.repository,
        "tag": event.tag,
        "payload": encode(event_id, now, event),
    }
    conn.execute(_INSERT_EVENT, row)
    return event_id


def read(conn: Connection, after_seq: int, limit: int) -> list[Row[Any]]:
    """The outbox rows past `after_seq`, in `seq` order (cursors decide where to stop)."""
    return list(
        conn.execute(
            select(events).where(events.c.seq > after_seq).order_by(events.c.seq).limit(limit)
        ).all()
    )


def typed(rows: Sequence[Row[Any]]) -> list[StoredEvent]:
    """The rows as typed events. A row this version cannot read (written by a newer one) is
    logged and left out; the cursor that read it still moves past it."""
    found: list[StoredEvent] = []
    for row in rows:
        try:
            event = decode(row.action, row.payload)
        except PayloadInvalid as exc:
            log.warning("outbox event %s (seq %s) skipped: %s", row.id, row.seq, exc)
            continue
        found.append(
            StoredEvent(int(row.seq), str(row.id), float(row.created_at), event, row.payload)
        )
    return found
