"""Each consumer's position in the outbox: one `event_cursors` row per `Consumer`.

Events get their `seq` inside the pushing transaction, so a lower `seq` can commit after a
higher one; a cursor stops at a gap until it is GAP_WAIT_SECONDS old (the transaction that
held it has committed or rolled back by then).
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, update

from dockyard.events.model import Consumer, StoredEvent
from dockyard.events.outbox import read, typed
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import event_cursors, events

GAP_WAIT_SECONDS = 10.0


class Cursor:
    """One consumer's reading position."""

    def __init__(self, db: Database, consumer: Consumer) -> None:
        self._db = db
        self.consumer = consumer

    def has_unread(self) -> bool:
        """Whether events wait past the cursor (a read, so that idle polls take no write
        lock)."""
        with self._db.read() as conn:
            newest = conn.execute(select(func.max(events.c.seq))).scalar()
            seen = self.position(conn)
        return newest is not None and seen < int(newest)

    def position(self, conn: Connection) -> int:
        """The `seq` of the last event taken (0 before the first)."""
        seen = conn.execute(
            select(event_cursors.c.seq).where(event_cursors.c.name == str(self.consumer))
        ).scalar()
        return 0 if seen is None else int(seen)

    def take(self, conn: Connection, limit: int, now: float) -> list[StoredEvent]:
        """In the caller's write transaction: the events past the cursor, in `seq` order up
        to the first gap younger than GAP_WAIT_SECONDS, with the cursor moved past them (the
        caller's work on them commits, or rolls back, with the move)."""
        name = str(self.consumer)
        locked = select(event_cursors.c.seq).where(event_cursors.c.name == name).with_for_update()
        position = conn.execute(locked).scalar()
        if position is None:
            # A missing row locks nothing: two first takers would both start from 0 and hand
            # out the same events twice. The insert waits for a concurrent one to commit, and
            # the second read locks the row whoever created it.
            insert_ignore(conn, event_cursors, {"name": name, "seq": 0})
            position = conn.execute(locked).scalar_one()
        taken = []
        last = int(position)
        for row in read(conn, last, limit):
            if row.seq != last + 1 and now - float(row.created_at) < GAP_WAIT_SECONDS:
                break
            taken.append(row)
            last = int(row.seq)
        if taken:
            conn.execute(update(event_cursors).where(event_cursors.c.name == name).values(seq=last))
        return typed(taken)
