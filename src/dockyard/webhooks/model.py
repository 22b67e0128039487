"""What the webhook services answer: typed webhooks and deliveries, their statuses, and the
settings of delivery. The wire JSON is shaped at the edge (api/management/webhooks.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dockyard.events import Action

PING = "ping"  # the action of a ping's body; not an outbox event


class WebhookStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # refused by the receiver, or still failing at the retry horizon


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    allow_private_targets: bool = False
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 3600.0
    retry_horizon_seconds: float = 24 * 3600.0
    timeout_seconds: float = 10.0
    concurrency: int = 8


@dataclass(frozen=True, slots=True)
class Webhook:
    name: str
    uri: str
    actions: tuple[Action, ...]
    scope: str  # '' (everything), 'repo', 'repo:*' or 'repo:tag', with `*` wildcards
    headers: dict[str, str]
    status: WebhookStatus
    created_at: float


@dataclass(frozen=True, slots=True)
class WebhookWithSecret:
    """A webhook as created, or with a new secret: the only answers that show it."""

    webhook: Webhook
    secret: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one webhook, with its last attempt's request and response."""

    id: int
    webhook: str
    event_id: str
    repository: str
    action: str  # an Action, or PING
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float | None  # only while pending
    request_headers: dict[str, str] | None
    request_body: str
    response_status: int | None
    response_headers: dict[str, str] | None
    response_excerpt: str | None
    duration_ms: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None
