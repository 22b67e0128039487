"""Migration 0015 renames `webhook_cursor` to `event_cursors` and keeps every position."""

from __future__ import annotations

import time
from collections.abc import Callable

from alembic import command
from sqlalchemy import inspect, text

from dockyard.events import Action, Consumer, Cursor, Event, ManifestTarget, append
from dockyard.storage.db.database import Database, null_pool_engine
from dockyard.storage.db.migrate import alembic_config

DIGEST = "sha256:" + "c" * 64


def _migrate(url: str, revision: str, down: bool = False) -> None:
    engine = null_pool_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_cursor_positions_survive_the_rename(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    _migrate(url, "0014")
    db = Database(url)
    try:
        with db.write() as conn:
            for tag in ("a", "b", "c"):
                append(conn, Event(Action.PUSH, ManifestTarget("base/os", DIGEST, "m", 1, tag)))
            # Positions as the code before 0015 left them: the webhooks' row was `events`.
            conn.execute(text("INSERT INTO webhook_cursor (name, seq) VALUES ('events', 2)"))
            conn.execute(
                text("INSERT INTO webhook_cursor (name, seq) VALUES ('base-image-triggers', 1)")
            )
        db.dispose()
        _migrate(url, "head")

        tables = inspect(db.engine).get_table_names()
        assert "event_cursors" in tables
        assert "webhook_cursor" not in tables
        with db.write() as conn:
            webhooks = Cursor(db, Consumer.WEBHOOKS).take(conn, 100, time.time())
            triggers = Cursor(db, Consumer.BASE_IMAGE_TRIGGERS).take(conn, 100, time.time())
        assert [s.event.tag for s in webhooks] == ["c"]
        assert [s.event.tag for s in triggers] == ["b", "c"]
        db.dispose()

        _migrate(url, "0014", down=True)
        with db.read() as conn:
            rows = dict(conn.execute(text("SELECT name, seq FROM webhook_cursor")).all())
        assert rows == {"events": 3, "base-image-triggers": 3}
    finally:
        db.dispose()
