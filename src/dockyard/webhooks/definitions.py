"""Webhook definitions: create, read, change and delete `webhooks` rows.

A URI must be http(s) and, unless private targets are allowed, resolve to public addresses
only (checked here, and again by the transport at every send).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, select, update

from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.events import Action
from dockyard.netguard import AddressRefused, Guard
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import webhook_deliveries, webhooks
from dockyard.tiers.limits import check_tier_room
from dockyard.webhooks.model import Webhook, WebhookStatus, WebhookWithSecret

NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
ACTION_NAMES = ", ".join(Action)
_ACTIONS = frozenset(action.value for action in Action)
_STATUSES = frozenset(status.value for status in WebhookStatus)


def webhook_row(conn: Connection, name: str) -> Any:
    """The webhook's row; NotFound when there is none."""
    row = conn.execute(select(webhooks).where(webhooks.c.name == name)).first()
    if row is None:
        raise NotFound(f"webhook {name} not found")
    return row


def webhook(row: Any) -> Webhook:
    return Webhook(
        name=row.name,
        uri=row.uri,
        actions=tuple(Action(action) for action in json.loads(row.actions)),
        scope=row.scope,
        headers=dict(json.loads(row.headers)),
        status=WebhookStatus(row.status),
        created_at=float(row.created_at),
    )


class WebhookDefinitions:
    def __init__(self, db: Database, guard: Guard | None) -> None:
        self._db = db
        self._guard = guard  # None: private targets allowed

    def list_webhooks(self) -> list[Webhook]:
        with self._db.read() as conn:
            rows = conn.execute(select(webhooks).order_by(webhooks.c.name)).all()
        return [webhook(row) for row in rows]

    def get(self, name: str) -> Webhook:
        with self._db.read() as conn:
            return webhook(webhook_row(conn, name))

    def create(
        self,
        name: str,
        uri: str,
        actions: Sequence[str],
        scope: str = "",
        headers: dict[str, str] | None = None,
        status: str = WebhookStatus.ENABLED,
    ) -> WebhookWithSecret:
        """Create a webhook; the answer carries its signing secret (shown only here)."""
        if not NAME.match(name):
            raise Invalid("webhook names are 5 to 50 letters and digits")
        secret = secrets.token_hex(32)
        values = {
            "name": name,
            "uri": self.check_uri(uri),
            "actions": json.dumps(_actions(actions)),
            "scope": _scope(scope),
            "headers": json.dumps(_headers(headers or {})),
            "status": _status(status),
            "secret": secret,
            "created_at": time.time(),
        }
        with self._db.write() as conn:
            check_tier_room(conn, "webhooks")
            if not insert_ignore(conn, webhooks, values):
                raise Conflict(f"webhook {name} already exists")
        return WebhookWithSecret(self.get(name), secret)

    def update(
        self,
        name: str,
        uri: str | None = None,
        actions: Sequence[str] | None = None,
        scope: str | None = None,
        headers: dict[str, str] | None = None,
        status: str | None = None,
        regenerate_secret: bool = False,
    ) -> Webhook | WebhookWithSecret:
        """Change what is given; with `regenerate_secret` the answer carries the new one."""
        values: dict[str, Any] = {}
        if uri is not None:
            values["uri"] = self.check_uri(uri)
        if actions is not None:
            values["actions"] = json.dumps(_actions(actions))
        if scope is not None:
            values["scope"] = _scope(scope)
        if headers is not None:
            values["headers"] = json.dumps(_headers(headers))
        if status is not None:
            values["status"] = _status(status)
        if regenerate_secret:
            values["secret"] = secrets.token_hex(32)
        with self._db.write() as conn:
            webhook_row(conn, name)
            if values:
                conn.execute(update(webhooks).where(webhooks.c.name == name).values(**values))
        found = self.get(name)
        return WebhookWithSecret(found, values["secret"]) if regenerate_secret else found

    def delete(self, name: str) -> None:
        """Delete the webhook and its deliveries, pending ones included."""
        with self._db.write() as conn:
            webhook_row(conn, name)
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook == name))
            conn.execute(delete(webhooks).where(webhooks.c.name == name))

    def check_uri(self, uri: str) -> str:
        """An http(s) URI whose host resolves to public addresses only (unless allowed)."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError as exc:
            raise Invalid(f"invalid URI: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid("the webhook URI must be an http or https URL with a host")
        if self._guard is None:
            return uri
        host = parts.hostname
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            self._guard.check(host, port)
        except OSError as exc:
            raise Invalid(f"cannot resolve {host}: {exc}") from None
        except AddressRefused as exc:
            raise Invalid(exc.message) from None
        return uri


def _actions(actions: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(a.strip() for a in actions if a.strip()))
    if not wanted:
        raise Invalid(f"a webhook needs actions: {ACTION_NAMES}")
    unknown = [a for a in wanted if a not in _ACTIONS]
    if unknown:
        raise Invalid(f"unknown actions {', '.join(unknown)}; use {ACTION_NAMES}")
    return wanted


def _scope(scope: str) -> str:
    scope = scope.strip()
    if len(scope) > 300 or any(c.isspace() for c in scope) or scope.count(":") > 1:
        raise Invalid("scope is '', 'repository', 'repository:tag' or 'repository:*'")
    return scope


def _headers(headers: dict[str, str]) -> dict[str, str]:
    for key, value in headers.items():
        if not HEADER_NAME.match(key) or "\r" in value or "\n" in value:
            raise Invalid(f"invalid header {key!r}")
    return dict(headers)


def _status(status: str) -> str:
    if status not in _STATUSES:
        raise Invalid("status is enabled or disabled")
    return status
