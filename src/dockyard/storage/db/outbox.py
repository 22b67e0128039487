"""Readers of the event outbox (`events`), each with a named cursor row in `webhook_cursor`.

Events get their `seq` inside the pushing transaction, so a lower `seq` can commit after a
higher one; a reader stops at a gap until it is GAP_WAIT_SECONDS old (the transaction that
held it has committed or rolled back by then).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.engine import Row

from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import events, webhook_cursor

GAP_WAIT_SECONDS = 10.0


def has_unread(db: Database, cursor: str) -> bool:
    """Whether events wait past the cursor (a read, so that idle polls take no write lock)."""
    with db.read() as conn:
        newest = conn.execute(select(func.max(events.c.seq))).scalar()
        seen = conn.execute(
            select(webhook_cursor.c.seq).where(webhook_cursor.c.name == cursor)
        ).scalar()
    return newest is not None and (seen is None or int(seen) < int(newest))


def take_events(conn: Connection, cursor: str, limit: int, now: float) -> list[Row[Any]]:
    """In the caller's write transaction: the events past the cursor, in `seq` order up to
    the first gap younger than GAP_WAIT_SECONDS, with the cursor moved past them (the
    caller's work on them commits, or rolls back, with the move)."""
    position = conn.execute(
        select(webhook_cursor.c.seq).where(webhook_cursor.c.name == cursor).with_for_update()
    ).scalar()
    if position is None:
        insert_ignore(conn, webhook_cursor, {"name": cursor, "seq": 0})
        position = 0
    rows = conn.execute(
        select(events).where(events.c.seq > position).order_by(events.c.seq).limit(limit)
    ).all()
    taken: list[Row[Any]] = []
    last = int(position)
    for event in rows:
        if event.seq != last + 1 and now - float(event.created_at) < GAP_WAIT_SECONDS:
            break
        taken.append(event)
        last = int(event.seq)
    if taken:
        conn.execute(update(webhook_cursor).where(webhook_cursor.c.name == cursor).values(seq=last))
    return taken
