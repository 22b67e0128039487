"""Delivery: sending pending `webhook_deliveries` rows, with retries, and pings.

A row stays pending until its receiver answers 2xx, it is refused (a 4xx other than 429) or
the retry horizon passes. Rows are the queue, so nothing is lost when a process dies: the
next process holding the `webhooks` lease sends them (at least once). Within one
(webhook, repository) only the oldest pending row is ever due, so events of one repository
arrive in order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import aliased

from dockyard import __version__
from dockyard.events.wire import timestamp
from dockyard.netguard import AddressRefused, Guard, outbound_client
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import webhook_deliveries, webhooks
from dockyard.webhooks.definitions import webhook_row
from dockyard.webhooks.model import PING, Delivery, DeliveryStatus, WebhookSettings

EXCERPT_BYTES = 2048
PENDING = DeliveryStatus.PENDING.value


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST to a receiver: what was sent and what came back (or why nothing did)."""

    request_headers: dict[str, str]
    status: int | None
    response_headers: dict[str, str] | None
    excerpt: str | None
    duration_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(client: httpx.Client, uri: str, headers: dict[str, str], body: bytes) -> Attempt:
    """The one outbound request of a delivery: POST the body, keep the first EXCERPT_BYTES
    of the answer. Failures to connect or send are an Attempt with an error, not raised."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with client.stream("POST", uri, content=body, headers=headers) as resp:
            excerpt = b""
            for chunk in resp.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            return Attempt(
                headers,
                resp.status_code,
                dict(resp.headers.items()),
                excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
                elapsed(),
                None if resp.is_success else f"HTTP {resp.status_code}",
            )
    except httpx.HTTPError as exc:
        return Attempt(headers, None, None, None, elapsed(), f"{type(exc).__name__}: {exc}")
    except AddressRefused as exc:  # checked as the connection opened: DNS may have changed
        return Attempt(headers, None, None, None, elapsed(), f"refused target: {exc.message}")


def delivery(row: Any) -> Delivery:
    status = DeliveryStatus(row.status)
    return Delivery(
        id=int(row.id),
        webhook=row.webhook,
        event_id=row.event_id,
        repository=row.repository,
        action=str(json.loads(row.request_body).get("action", "")),
        status=status,
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at if status is DeliveryStatus.PENDING else None,
        request_headers=json.loads(row.request_headers) if row.request_headers else None,
        request_body=row.request_body,
        response_status=row.response_status,
        response_headers=json.loads(row.response_headers) if row.response_headers else None,
        response_excerpt=row.response_excerpt,
        duration_ms=row.duration_ms,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


class WebhookDelivery:
    def __init__(self, db: Database, settings: WebhookSettings, guard: Guard | None) -> None:
        self._db = db
        self.settings = settings
        self._guard = guard  # None: private targets allowed

    def client(self) -> httpx.Client:
        """The client deliveries are sent with: unless private targets are allowed, its
        connections go only to addresses checked when they are opened."""
        return outbound_client(self._guard, timeout=self.settings.timeout_seconds)

    # --- the queue --------------------------------------------------------------------------

    def has_due(self) -> bool:
        """Whether some delivery is due now (a read)."""
        with self._db.read() as conn:
            due = conn.execute(
                select(webhook_deliveries.c.id)
                .where(
                    webhook_deliveries.c.status == PENDING,
                    webhook_deliveries.c.next_attempt_at <= time.time(),
                )
                .limit(1)
            ).first()
        return due is not None

    def due(self, limit: int = 32) -> list[int]:
        """Pending deliveries to send now: the oldest pending of each (webhook, repository)."""
        d = webhook_deliveries
        earlier = aliased(webhook_deliveries)
        with self._db.read() as conn:
            rows = conn.execute(
                select(d.c.id)
                .where(
                    d.c.status == PENDING,
                    d.c.next_attempt_at <= time.time(),
                    ~exists().where(
                        and_(
                            earlier.c.webhook == d.c.webhook,
                            earlier.c.repository == d.c.repository,
                            earlier.c.status == PENDING,
                            earlier.c.event_seq < d.c.event_seq,
                        )
                    ),
                )
                .order_by(d.c.event_seq, d.c.id)
                .limit(limit)
            ).all()
        return [int(row[0]) for row in rows]

    def pending_count(self) -> int:
        with self._db.read() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(webhook_deliveries)
                .where(webhook_deliveries.c.status == PENDING)
            ).scalar()
        return int(count or 0)

    def send_due(self, batch: int = 32) -> int:
        """Send one batch of due deliveries concurrently; the count sent."""
        ids = self.due(batch)
        if not ids:
            return 0
        with self.client() as client:
            workers = max(1, min(self.settings.concurrency, len(ids)))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda i: self.send(i, client), ids))
        return len(ids)

    def send(self, delivery_id: int, client: httpx.Client) -> DeliveryStatus:
        """Attempt one pending delivery and record the attempt; its new status."""
        with self._db.read() as conn:
            row = conn.execute(
                select(webhook_deliveries, webhooks.c.uri, webhooks.c.headers, webhooks.c.secret)
                .join(webhooks, webhooks.c.name == webhook_deliveries.c.webhook)
                .where(webhook_deliveries.c.id == delivery_id)
            ).first()
        if row is None:
            return DeliveryStatus.DEAD
        if row.status != PENDING:
            return DeliveryStatus(row.status)
        body = row.request_body.encode()
        headers = _headers(json.loads(row.headers), row.secret, row.event_id, body)
        attempt = post(client, row.uri, headers, body)
        now = time.time()
        attempts = int(row.attempts) + 1
        retry = attempt.status is None or attempt.status == 429 or attempt.status >= 500
        next_at = now
        if attempt.succeeded:
            status = DeliveryStatus.DELIVERED
        elif retry:
            delay = min(
                self.settings.retry_max_seconds,
                self.settings.retry_base_seconds * 2 ** (attempts - 1),
            ) * random.uniform(0.8, 1.2)
            next_at = now + delay
            horizon = float(row.event_created_at) + self.settings.retry_horizon_seconds
            status = DeliveryStatus.DEAD if next_at > horizon else DeliveryStatus.PENDING
        else:
            status = DeliveryStatus.DEAD
        with self._db.write() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == PENDING
                )
                .values(**_recorded(attempt, status, attempts, next_at, now))
            )
        return status

    # --- one webhook ------------------------------------------------------------------------

    def history(self, name: str, limit: int = 100) -> list[Delivery]:
        """The webhook's deliveries, newest first."""
        with self._db.read() as conn:
            webhook_row(conn, name)
            rows = conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.webhook == name)
                .order_by(webhook_deliveries.c.id.desc())
                .limit(limit)
            ).all()
        return [delivery(row) for row in rows]

    def ping(self, name: str) -> Delivery:
        """Send a `ping` event to the webhook now and record it as a delivery."""
        with self._db.read() as conn:
            hook = webhook_row(conn, name)
        now = time.time()
        event_id = str(uuid.uuid4())
        body = json.dumps(
            {"id": event_id, "timestamp": timestamp(now), "action": PING},
            separators=(",", ":"),
        )
        headers = _headers(json.loads(hook.headers), hook.secret, event_id, body.encode())
        with self.client() as client:
            attempt = post(client, hook.uri, headers, body.encode())
        status = DeliveryStatus.DELIVERED if attempt.succeeded else DeliveryStatus.DEAD
        with self._db.write() as conn:
            new_id = conn.execute(
                webhook_deliveries.insert()
                .values(
                    webhook=name,
                    event_id=event_id,
                    event_seq=0,
                    repository="",
                    event_created_at=now,
                    request_body=body,
                    created_at=now,
                    **_recorded(attempt, status, 1, now, time.time()),
                )
                .returning(webhook_deliveries.c.id)
            ).scalar_one()
        with self._db.read() as conn:
            row = conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == new_id)
            ).one()
        return delivery(row)


def _headers(custom: dict[str, str], secret: str, event_id: str, body: bytes) -> dict[str, str]:
    return {
        **custom,
        "Content-Type": "application/json",
        "User-Agent": f"Dockyard-Webhook/{__version__}",
        "X-Dockyard-Event-Id": event_id,
        "Idempotency-Key": event_id,
        "X-Dockyard-Signature": signature(secret, body),
    }


def _recorded(
    attempt: Attempt, status: DeliveryStatus, attempts: int, next_at: float, now: float
) -> dict[str, Any]:
    return {
        "status": status.value,
        "attempts": attempts,
        "next_attempt_at": next_at,
        "request_headers": json.dumps(attempt.request_headers),
        "response_status": attempt.status,
        "response_headers": (
            json.dumps(attempt.response_headers) if attempt.response_headers is not None else None
        ),
        "response_excerpt": attempt.excerpt,
        "duration_ms": attempt.duration_ms,
        "last_error": attempt.error,
        "delivered_at": now if status is DeliveryStatus.DELIVERED else None,
    }
