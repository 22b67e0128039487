"""Token buckets shared by every server process, one row of `rate_buckets` each.

A bucket holds at most one minute's worth of its rate and refills continuously; a missing row
is a full bucket. Each take happens in one short write transaction that locks the rows it
touches (in key order, so two processes never wait on each other crosswise)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, delete, event, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import rate_buckets

log = logging.getLogger("dockyard.ratelimit")

# A bucket untouched for a minute is full again, as good as no row; older rows are removed.
STALE_SECONDS = 120.0
SWEEP_EVERY_SECONDS = 60.0
MAX_KEY_CHARS = 200


@dataclass(frozen=True, slots=True)
class Want:
    """A request for up to `batch` tokens from the bucket `key`, whose rate is `per_minute`;
    `give_back` unused tokens of an earlier batch return to it first."""

    key: str
    per_minute: int
    batch: int
    give_back: int = 0


@dataclass(frozen=True, slots=True)
class Grant:
    tokens: int
    wait_seconds: float  # until the bucket holds a batch again; 0 when tokens came


class SharedBuckets(Protocol):
    def take(self, wants: Sequence[Want], now: float) -> list[Grant]:
        """Blocking: one grant per want, in the same order."""
        ...


def bucket_key(rate_class: str, identity: str) -> str:
    key = f"{rate_class}|{identity}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    return f"{rate_class}|sha256:{hashlib.sha256(identity.encode()).hexdigest()}"


def refill(tokens: float, updated_at: float, want: Want, now: float) -> tuple[int, float, float]:
    """Refill a bucket to `now` and take a batch from it; returns (taken, tokens left, seconds
    until a batch is there when none was taken).

    Only whole batches are handed out: a bucket run dry would otherwise be asked again for
    every single token that trickles in. A batch refills in 0.6 s (1/100 of a minute's worth),
    so that is the most a request waits for the rest of its batch."""
    capacity = float(want.per_minute)
    per_second = want.per_minute / 60.0
    # Clocks of different hosts may disagree a little; time never runs backwards here.
    elapsed = max(0.0, now - updated_at)
    level = min(capacity, tokens + elapsed * per_second + want.give_back)
    if level >= want.batch:
        return want.batch, level - want.batch, 0.0
    return 0, level, (want.batch - level) / per_second


class DatabaseBuckets:
    def __init__(self, db: Database) -> None:
        self._db = _without_waiting_for_the_disk(db)
        self._swept_at = time.monotonic()

    def take(self, wants: Sequence[Want], now: float) -> list[Grant]:
        by_key = {w.key: w for w in wants}
        keys = sorted(by_key)
        grants: dict[str, Grant] = {}
        with self._db.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            # Inserting first makes every row exist before it is locked, so two processes
            # that meet a new bucket at once both see (and lock) the same row.
            _insert_missing(conn, [by_key[k] for k in keys], now)
            rows = conn.execute(
                select(rate_buckets.c.key, rate_buckets.c.tokens, rate_buckets.c.updated_at)
                .where(rate_buckets.c.key.in_(keys))
                .order_by(rate_buckets.c.key)
                .with_for_update()
            ).all()
            for row in rows:
                updated_at = float(row.updated_at)
                taken, level, wait = refill(float(row.tokens), updated_at, by_key[row.key], now)
                conn.execute(
                    update(rate_buckets)
                    .where(rate_buckets.c.key == row.key)
                    .values(tokens=level, updated_at=max(now, updated_at))
                )
                grants[row.key] = Grant(taken, wait)
        if time.monotonic() - self._swept_at >= SWEEP_EVERY_SECONDS:
            self._swept_at = time.monotonic()
            try:
                self._sweep(now)
            except Exception:  # the next sweep tries again; the take itself has committed
                log.warning("could not remove stale rate buckets", exc_info=True)
        return [grants[w.key] for w in wants]

    def _sweep(self, now: float) -> None:
        stale = rate_buckets.c.updated_at < now - STALE_SECONDS
        with self._db.write() as conn:
            if conn.dialect.name == "postgresql":
                # Rows that a take holds are in use, not stale: skip them rather than wait.
                keys = select(rate_buckets.c.key).where(stale).with_for_update(skip_locked=True)
                conn.execute(delete(rate_buckets).where(rate_buckets.c.key.in_(keys)))
            else:
                conn.execute(delete(rate_buckets).where(stale))


def _insert_missing(conn: Connection, wants: Sequence[Want], now: float) -> None:
    """Full buckets for the keys that have no row yet."""
    rows = [{"key": w.key, "tokens": float(w.per_minute), "updated_at": now} for w in wants]
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(rate_buckets).values(rows).on_conflict_do_nothing())
    else:
        conn.execute(sqlite_insert(rate_buckets).values(rows).on_conflict_do_nothing())


def _without_waiting_for_the_disk(db: Database) -> Database:
    """The database for bucket changes, whose commits do not wait for the disk: a bucket that
    loses its last second of changes in a crash only refuses or lets through a few requests
    more, and an fsync per batch would cost more than everything else a batch does.

    SQLite: its own connections with `synchronous=NORMAL` (in WAL mode a commit then reaches
    the disk at the next checkpoint); writers still line up with every other writer.
    PostgreSQL: `synchronous_commit` off for each take's transaction."""
    if not db.is_sqlite:
        return db
    own = Database(db.url, pool_size=2)
    event.listen(own.engine, "connect", _sqlite_without_fsync_per_commit)
    return own


def _sqlite_without_fsync_per_commit(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
