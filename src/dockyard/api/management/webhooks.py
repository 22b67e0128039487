"""`/webhooks`: HTTP callbacks on registry events, their deliveries, and pings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dockyard.api.management.deps import Reader, Writer
from dockyard.errors import Unsupported
from dockyard.webhooks.service import WebhookService

router = APIRouter(tags=["webhooks"])

Action = Literal[
    "push", "delete", "chart_push", "chart_delete", "quarantine", "tag_delete", "referrer_push"
]
Status = Literal["enabled", "disabled"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Webhook(_Model):
    name: str
    uri: str
    actions: list[str]
    scope: str = Field(description="'' (everything), 'repo', 'repo:*' or 'repo:tag'")
    headers: dict[str, str]
    status: str
    created_at: datetime


class WebhookWithSecret(Webhook):
    secret: str = Field(
        description="HMAC-SHA256 key of X-Dockyard-Signature; shown only in this answer"
    )


class WebhookCreate(_Model):
    name: str = Field(pattern=r"^[a-zA-Z0-9]{5,50}$")
    uri: str
    actions: list[Action] = Field(min_length=1)
    scope: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    status: Status = "enabled"


class WebhookUpdate(_Model):
    uri: str | None = None
    actions: list[Action] | None = None
    scope: str | None = None
    headers: dict[str, str] | None = None
    status: Status | None = None
    regenerate_secret: bool = Field(default=False, description="Issue a new signing secret")


class Delivery(_Model):
    id: int
    webhook: str
    event_id: str
    repository: str
    action: str
    status: str = Field(description="pending, delivered or dead")
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


def _service(request: Request) -> WebhookService:
    service = request.app.state.management.webhooks
    if service is None:
        raise Unsupported("webhooks are not available on this server")
    assert isinstance(service, WebhookService)
    return service


Webhooks = Annotated[WebhookService, Depends(_service)]


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _webhook(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": _time(row["created_at"])}


def _delivery(row: dict[str, Any]) -> Delivery:
    times = ("next_attempt_at", "created_at", "delivered_at")
    return Delivery(**{**row, **{key: _time(row[key]) for key in times}})


@router.get("/webhooks")
def list_webhooks(_: Reader, webhooks: Webhooks) -> list[Webhook]:
    return [Webhook(**_webhook(row)) for row in webhooks.list_webhooks()]


@router.post("/webhooks", status_code=201)
def create_webhook(body: WebhookCreate, _: Writer, webhooks: Webhooks) -> WebhookWithSecret:
    """Create a webhook. The answer carries the secret that signs its deliveries."""
    created = webhooks.create(
        body.name, body.uri, list(body.actions), body.scope, body.headers, body.status
    )
    return WebhookWithSecret(**_webhook(created))


@router.get("/webhooks/{name}")
def get_webhook(name: str, _: Reader, webhooks: Webhooks) -> Webhook:
    return Webhook(**_webhook(webhooks.get(name)))


@router.patch("/webhooks/{name}", response_model=None)
def update_webhook(
    name: str, body: WebhookUpdate, _: Writer, webhooks: Webhooks
) -> Webhook | WebhookWithSecret:
    updated = webhooks.update(
        name,
        uri=body.uri,
        actions=None if body.actions is None else list(body.actions),
        scope=body.scope,
        headers=body.headers,
        status=body.status,
        regenerate_secret=body.regenerate_secret,
    )
    if "secret" in updated:
        return WebhookWithSecret(**_webhook(updated))
    return Webhook(**_webhook(updated))


@router.delete("/webhooks/{name}", status_code=204)
def delete_webhook(name: str, _: Writer, webhooks: Webhooks) -> Response:
    """Delete a webhook and its deliveries, pending ones included."""
    webhooks.delete(name)
    return Response(status_code=204)


@router.post("/webhooks/{name}/ping")
def ping_webhook(name: str, _: Writer, webhooks: Webhooks) -> Delivery:
    """Send a `ping` event now; the answer is the recorded delivery."""
    return _delivery(webhooks.ping(name))


@router.get("/webhooks/{name}/events")
def list_webhook_events(
    name: str,
    _: Reader,
    webhooks: Webhooks,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Delivery]:
    """The webhook's deliveries, newest first, with the last attempt's request and response."""
    return [_delivery(row) for row in webhooks.deliveries(name, limit)]
