"""The management API's webhook bodies: definitions, what creating or updating one answers,
and the deliveries.

The three enumerations repeat, value for value, the ones the server's wings hold
(`dockyard.events.Action`, `dockyard.webhooks.WebhookStatus` and `DeliveryStatus`): those
wings sit above this module, and the CLI must not import them. The routes fill these fields
with the wings' members (pydantic reads a member by its value), and
tests/integration/test_cli_api_client.py holds both to the server's OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from dockyard.wire.base import WireModel


class Action(StrEnum):
    """ACR's webhook actions, in the order ACR lists them."""

    PUSH = "push"
    DELETE = "delete"
    CHART_PUSH = "chart_push"
    CHART_DELETE = "chart_delete"
    QUARANTINE = "quarantine"
    TAG_DELETE = "tag_delete"
    REFERRER_PUSH = "referrer_push"


class WebhookStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class Webhook(WireModel):
    name: str
    uri: str
    actions: list[Action]
    scope: str = Field(description="'' (everything), 'repo', 'repo:*' or 'repo:tag'")
    headers: dict[str, str]
    status: WebhookStatus
    created_at: datetime


class WebhookWithSecret(Webhook):
    secret: str = Field(
        description="HMAC-SHA256 key of X-Dockyard-Signature; shown only in this answer"
    )


class WebhookCreate(WireModel):
    name: str = Field(pattern=r"^[a-zA-Z0-9]{5,50}$")
    uri: str
    actions: list[Action] = Field(min_length=1)
    scope: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    status: WebhookStatus = WebhookStatus.ENABLED


class WebhookUpdate(WireModel):
    uri: str | None = None
    actions: list[Action] | None = None
    scope: str | None = None
    headers: dict[str, str] | None = None
    status: WebhookStatus | None = None
    regenerate_secret: bool = Field(default=False, description="Issue a new signing secret")


class Delivery(WireModel):
    id: int
    webhook: str
    event_id: str
    repository: str
    action: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    request_headers: dict[str, str] | None
    request_body: str
    response_status: int | None
    response_headers: dict[str, str] | None
    response_excerpt: str | None = Field(description="The first 2 KiB of the response body")
    duration_ms: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
