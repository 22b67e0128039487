"""Fan-out: outbox events past the webhooks' cursor become pending deliveries.

One write transaction takes the events (events/cursors.py), inserts one pending
`webhook_deliveries` row per matching enabled webhook and moves the cursor, so an event is
fanned out once, across crashes.
"""

from __future__ import annotations

import time
from fnmatch import fnmatchcase

from sqlalchemy import select

from dockyard.events import Consumer, Cursor
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import webhook_deliveries, webhooks
from dockyard.webhooks.definitions import webhook
from dockyard.webhooks.model import DeliveryStatus, WebhookStatus

_INSERT_DELIVERY = webhook_deliveries.insert()


def scope_matches(scope: str, repository: str, tag: str | None) -> bool:
    """ACR's webhook scope: '' everything, `repo` or `repo:*` any tag of repo, `repo:tag` that
    tag; `*` wildcards in either part (`samples/*:*`)."""
    if scope == "":
        return True
    repo_pattern, colon, tag_pattern = scope.rpartition(":")
    if not colon or "/" in tag_pattern:
        repo_pattern, tag_pattern = scope, "*"
    if not fnmatchcase(repository, repo_pattern):
        return False
    return tag_pattern == "*" or fnmatchcase(tag or "", tag_pattern)


class FanOut:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cursor = Cursor(db, Consumer.WEBHOOKS)

    def has_work(self) -> bool:
        """Whether events wait past the cursor (a read)."""
        return self._cursor.has_unread()

    def run_once(self, limit: int = 500) -> int:
        """Turn events past the cursor into pending deliveries; the count created."""
        if not self._cursor.has_unread():  # most polls find nothing new
            return 0
        created = 0
        now = time.time()
        with self._db.write() as conn:
            taken = self._cursor.take(conn, limit, now)
            if not taken:
                return 0
            hooks = [
                webhook(row)
                for row in conn.execute(
                    select(webhooks).where(webhooks.c.status == WebhookStatus.ENABLED.value)
                ).all()
            ]
            for stored in taken:
                event = stored.event
                for hook in hooks:
                    if event.action in hook.actions and scope_matches(
                        hook.scope, event.repository, event.tag
                    ):
                        conn.execute(
                            _INSERT_DELIVERY,
                            {
                                "webhook": hook.name,
                                "event_id": stored.id,
                                "event_seq": stored.seq,
                                "repository": event.repository,
                                "status": DeliveryStatus.PENDING.value,
                                "attempts": 0,
                                "next_attempt_at": now,
                                "event_created_at": stored.created_at,
                                "request_body": stored.payload,
                                "created_at": now,
                            },
                        )
                        created += 1
        return created
