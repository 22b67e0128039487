"""Webhooks: their definitions, the fan-out of outbox events into deliveries, and delivery.

Fan-out reads `events` past the cursor in `seq` order and, in the same transaction, inserts
one pending `webhook_deliveries` row per matching enabled webhook and moves the cursor. The
sender POSTs due rows; a row stays pending until its receiver answers 2xx, it is refused (a
4xx other than 429) or the retry horizon passes. Rows are the queue, so nothing is lost when
a process dies: the next process holding the `webhooks` lease sends them (at least once).
Within one (webhook, repository) only the oldest pending row is ever sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, and_, delete, exists, func, select, update
from sqlalchemy.orm import aliased

from dockyard import __version__
from dockyard.errors import DockyardError, NameUnknown
from dockyard.netguard import AddressRefused, Guard, Resolver, outbound_client, resolve
from dockyard.spec.codes import ErrorCode
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.outbox import has_unread, take_events
from dockyard.storage.db.schema import webhook_deliveries, webhooks
from dockyard.storage.db.settings import check_tier_room

ACTIONS = (
    "push",
    "delete",
    "chart_push",
    "chart_delete",
    "quarantine",
    "tag_delete",
    "referrer_push",
)
STATUSES = ("enabled", "disabled")
NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
EXCERPT_BYTES = 2048
CURSOR = "events"


class WebhookError(DockyardError):
    """A webhook request that cannot be done: invalid input (400) or a conflict (409)."""

    code = ErrorCode.UNSUPPORTED

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, status=status)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    allow_private_targets: bool = False
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 3600.0
    retry_horizon_seconds: float = 24 * 3600.0
    timeout_seconds: float = 10.0
    concurrency: int = 8


def _now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")


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


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _webhook(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "uri": row.uri,
        "actions": json.loads(row.actions),
        "scope": row.scope,
        "headers": json.loads(row.headers),
        "status": row.status,
        "created_at": row.created_at,
    }


def _delivery(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "webhook": row.webhook,
        "event_id": row.event_id,
        "repository": row.repository,
        "action": json.loads(row.request_body).get("action", ""),
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at if row.status == PENDING else None,
        "request_headers": json.loads(row.request_headers) if row.request_headers else None,
        "request_body": row.request_body,
        "response_status": row.response_status,
        "response_headers": json.loads(row.response_headers) if row.response_headers else None,
        "response_excerpt": row.response_excerpt,
        "duration_ms": row.duration_ms,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "delivered_at": row.delivered_at,
    }


@dataclass(frozen=True, slots=True)
class _Attempt:
    request_headers: dict[str, str]
    status: int | None
    response_headers: dict[str, str] | None
    excerpt: str | None
    duration_ms: int
    error: str | None


class WebhookService:
    def __init__(
        self,
        db: Database,
        settings: WebhookSettings | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.db = db
        self.settings = settings or WebhookSettings()
        self._guard = (
            None
            if self.settings.allow_private_targets
            else Guard("webhook_allow_private_targets", resolver)
        )

    # --- definitions ------------------------------------------------------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(webhooks).order_by(webhooks.c.name)).all()
        return [_webhook(row) for row in rows]

    def get(self, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = self._row(conn, name)
        return _webhook(row)

    def _row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(webhooks).where(webhooks.c.name == name)).first()
        if row is None:
            raise NameUnknown(f"webhook {name} not found")
        return row

    def create(
        self,
        name: str,
        uri: str,
        actions: Sequence[str],
        scope: str = "",
        headers: dict[str, str] | None = None,
        status: str = "enabled",
    ) -> dict[str, Any]:
        """Create a webhook; the answer carries its signing secret (shown only here)."""
        if not NAME.match(name):
            raise WebhookError("webhook names are 5 to 50 letters and digits")
        values = {
            "name": name,
            "uri": self.check_uri(uri),
            "actions": json.dumps(self._actions(actions)),
            "scope": self._scope(scope),
            "headers": json.dumps(self._headers(headers or {})),
            "status": self._status(status),
            "secret": secrets.token_hex(32),
            "created_at": time.time(),
        }
        with self.db.write() as conn:
            check_tier_room(conn, "webhooks")
            if not insert_ignore(conn, webhooks, values):
                raise WebhookError(f"webhook {name} already exists", status=409)
        return {**self.get(name), "secret": values["secret"]}

    def update(
        self,
        name: str,
        uri: str | None = None,
        actions: Sequence[str] | None = None,
        scope: str | None = None,
        headers: dict[str, str] | None = None,
        status: str | None = None,
        regenerate_secret: bool = False,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if uri is not None:
            values["uri"] = self.check_uri(uri)
        if actions is not None:
            values["actions"] = json.dumps(self._actions(actions))
        if scope is not None:
            values["scope"] = self._scope(scope)
        if headers is not None:
            values["headers"] = json.dumps(self._headers(headers))
        if status is not None:
            values["status"] = self._status(status)
        if regenerate_secret:
            values["secret"] = secrets.token_hex(32)
        with self.db.write() as conn:
            self._row(conn, name)
            if values:
                conn.execute(update(webhooks).where(webhooks.c.name == name).values(**values))
        found = self.get(name)
        return {**found, "secret": values["secret"]} if regenerate_secret else found

    def delete(self, name: str) -> None:
        with self.db.write() as conn:
            self._row(conn, name)
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook == name))
            conn.execute(delete(webhooks).where(webhooks.c.name == name))

    def deliveries(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """The webhook's deliveries, newest first."""
        with self.db.read() as conn:
            self._row(conn, name)
            rows = conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.webhook == name)
                .order_by(webhook_deliveries.c.id.desc())
                .limit(limit)
            ).all()
        return [_delivery(row) for row in rows]

    @staticmethod
    def _actions(actions: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(a.strip() for a in actions if a.strip()))
        if not wanted:
            raise WebhookError(f"a webhook needs actions: {', '.join(ACTIONS)}")
        unknown = [a for a in wanted if a not in ACTIONS]
        if unknown:
            raise WebhookError(f"unknown actions {', '.join(unknown)}; use {', '.join(ACTIONS)}")
        return wanted

    @staticmethod
    def _scope(scope: str) -> str:
        scope = scope.strip()
        if len(scope) > 300 or any(c.isspace() for c in scope) or scope.count(":") > 1:
            raise WebhookError("scope is '', 'repository', 'repository:tag' or 'repository:*'")
        return scope

    @staticmethod
    def _headers(headers: dict[str, str]) -> dict[str, str]:
        token = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
        for key, value in headers.items():
            if not token.match(key) or "\r" in value or "\n" in value:
                raise WebhookError(f"invalid header {key!r}")
        return dict(headers)

    @staticmethod
    def _status(status: str) -> str:
        if status not in STATUSES:
            raise WebhookError("status is enabled or disabled")
        return status

    def check_uri(self, uri: str) -> str:
        """An http(s) URI whose host resolves to public addresses only (unless allowed)."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError as exc:
            raise WebhookError(f"invalid URI: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookError("the webhook URI must be an http or https URL with a host")
        if self._guard is None:
            return uri
        host = parts.hostname
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            self._guard.check(host, port)
        except OSError as exc:
            raise WebhookError(f"cannot resolve {host}: {exc}") from None
        except AddressRefused as exc:
            raise WebhookError(exc.message) from None
        return uri

    def _client(self) -> httpx.Client:
        """The client deliveries are sent with: unless private targets are allowed, its
        connections go only to addresses checked when they are opened."""
        return outbound_client(self._guard, timeout=self.settings.timeout_seconds)

    # --- fan-out ----------------------------------------------------------------------------

    def fan_out(self, limit: int = 500) -> int:
        """Turn outbox events past the cursor into pending deliveries; the count created."""
        created = 0
        now = time.time()
        if not has_unread(self.db, CURSOR):  # most polls find nothing new
            return 0
        with self.db.write() as conn:
            taken = take_events(conn, CURSOR, limit, now)
            if not taken:
                return 0
            hooks = [
                _webhook(row)
                for row in conn.execute(
                    select(webhooks).where(webhooks.c.status == "enabled")
                ).all()
            ]
            for event in taken:
                for hook in hooks:
                    if event.action in hook["actions"] and scope_matches(
                        hook["scope"], event.repository, event.tag
                    ):
                        conn.execute(
                            webhook_deliveries.insert().values(
                                webhook=hook["name"],
                                event_id=event.id,
                                event_seq=event.seq,
                                repository=event.repository,
                                status=PENDING,
                                attempts=0,
                                next_attempt_at=now,
                                event_created_at=event.created_at,
                                request_body=event.payload,
                                created_at=now,
                            )
                        )
                        created += 1
        return created

    # --- delivery ---------------------------------------------------------------------------

    def due(self, limit: int = 32) -> list[int]:
        """Pending deliveries to send now: the oldest pending of each (webhook, repository)."""
        d = webhook_deliveries
        earlier = aliased(webhook_deliveries)
        with self.db.read() as conn:
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

    def has_work(self) -> bool:
        """Whether there are events to fan out or deliveries due: a read, so that idle polls
        take no lease and no write lock."""
        if has_unread(self.db, CURSOR):
            return True
        with self.db.read() as conn:
            due = conn.execute(
                select(webhook_deliveries.c.id)
                .where(
                    webhook_deliveries.c.status == PENDING,
                    webhook_deliveries.c.next_attempt_at <= time.time(),
                )
                .limit(1)
            ).first()
        return due is not None

    def pending_count(self) -> int:
        with self.db.read() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(webhook_deliveries)
                .where(webhook_deliveries.c.status == PENDING)
            ).scalar()
        return int(count or 0)

    def run_once(self, batch: int = 32) -> int:
        """Fan out, then send one batch of due deliveries concurrently; the count sent."""
        self.fan_out()
        ids = self.due(batch)
        if not ids:
            return 0
        with self._client() as client:
            workers = max(1, min(self.settings.concurrency, len(ids)))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda i: self.send(i, client), ids))
        return len(ids)

    def send(self, delivery_id: int, client: httpx.Client | None = None) -> str:
        """Attempt one pending delivery and record the attempt; its new status."""
        with self.db.read() as conn:
            row = conn.execute(
                select(webhook_deliveries, webhooks.c.uri, webhooks.c.headers, webhooks.c.secret)
                .join(webhooks, webhooks.c.name == webhook_deliveries.c.webhook)
                .where(webhook_deliveries.c.id == delivery_id)
            ).first()
        if row is None or row.status != PENDING:
            return row.status if row is not None else DEAD
        attempt = self._post(
            row.uri, json.loads(row.headers), row.secret, row.event_id, row.request_body, client
        )
        now = time.time()
        attempts = int(row.attempts) + 1
        retry = attempt.status is None or attempt.status == 429 or attempt.status >= 500
        next_at = now
        if attempt.status is not None and 200 <= attempt.status < 300:
            status = DELIVERED
        elif retry:
            delay = min(
                self.settings.retry_max_seconds,
                self.settings.retry_base_seconds * 2 ** (attempts - 1),
            ) * random.uniform(0.8, 1.2)
            next_at = now + delay
            horizon = float(row.event_created_at) + self.settings.retry_horizon_seconds
            status = DEAD if next_at > horizon else PENDING
        else:
            status = DEAD
        with self.db.write() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == PENDING
                )
                .values(**self._recorded(attempt, status, attempts, next_at, now))
            )
        return status

    @staticmethod
    def _recorded(
        attempt: _Attempt, status: str, attempts: int, next_at: float, now: float
    ) -> dict[str, Any]:
        return {
            "status": status,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "request_headers": json.dumps(attempt.request_headers),
            "response_status": attempt.status,
            "response_headers": (
                json.dumps(attempt.response_headers)
                if attempt.response_headers is not None
                else None
            ),
            "response_excerpt": attempt.excerpt,
            "duration_ms": attempt.duration_ms,
            "last_error": attempt.error,
            "delivered_at": now if status == DELIVERED else None,
        }

    def _post(
        self,
        uri: str,
        custom: dict[str, str],
        secret: str,
        event_id: str,
        body_text: str,
        client: httpx.Client | None,
    ) -> _Attempt:
        body = body_text.encode()
        headers = {
            **custom,
            "Content-Type": "application/json",
            "User-Agent": f"Dockyard-Webhook/{__version__}",
            "X-Dockyard-Event-Id": event_id,
            "Idempotency-Key": event_id,
            "X-Dockyard-Signature": signature(secret, body),
        }
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        own = client is None
        http = client or self._client()
        try:
            with http.stream("POST", uri, content=body, headers=headers) as resp:
                excerpt = b""
                for chunk in resp.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_BYTES:
                        break
                return _Attempt(
                    headers,
                    resp.status_code,
                    dict(resp.headers.items()),
                    excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
                    elapsed(),
                    None if resp.is_success else f"HTTP {resp.status_code}",
                )
        except httpx.HTTPError as exc:
            return _Attempt(headers, None, None, None, elapsed(), f"{type(exc).__name__}: {exc}")
        except AddressRefused as exc:  # checked as the connection opened: DNS may have changed
            return _Attempt(headers, None, None, None, elapsed(), f"refused target: {exc.message}")
        finally:
            if own:
                http.close()

    def ping(self, name: str) -> dict[str, Any]:
        """Send a `ping` event to the webhook now and record it as a delivery."""
        with self.db.read() as conn:
            hook = self._row(conn, name)
        now = time.time()
        event_id = str(uuid.uuid4())
        body = json.dumps(
            {"id": event_id, "timestamp": _now_iso(now), "action": "ping"},
            separators=(",", ":"),
        )
        attempt = self._post(hook.uri, json.loads(hook.headers), hook.secret, event_id, body, None)
        ok = attempt.status is not None and 200 <= attempt.status < 300
        status = DELIVERED if ok else DEAD
        with self.db.write() as conn:
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
                    **self._recorded(attempt, status, 1, now, time.time()),
                )
                .returning(webhook_deliveries.c.id)
            ).scalar_one()
        with self.db.read() as conn:
            row = conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == new_id)
            ).one()
        return _delivery(row)
