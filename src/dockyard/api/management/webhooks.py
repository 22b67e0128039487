"""`/webhooks`: HTTP callbacks on registry events, their deliveries, and pings."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from dockyard.api.management.deps import Reader, ServicesDep, Writer
from dockyard.errors import Unsupported
from dockyard.events import Action
from dockyard.webhooks import Webhooks, WebhookStatus
from dockyard.webhooks import model as webhook_model

# The bodies live in dockyard.wire (shared with the CLI).
from dockyard.wire import webhooks as wire
from dockyard.wire.webhooks import (
    Delivery,
    Webhook,
    WebhookCreate,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(tags=["webhooks"])


def _service(context: ServicesDep) -> Webhooks:
    if context.webhooks is None:
        raise Unsupported("webhooks are not available on this server")
    return context.webhooks


WebhooksDep = Annotated[Webhooks, Depends(_service)]


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _optional_time(value: float | None) -> datetime | None:
    return None if value is None else _time(value)


def _actions(actions: list[wire.Action]) -> list[Action]:
    return [Action(action.value) for action in actions]


def _webhook(hook: webhook_model.Webhook) -> Webhook:
    return Webhook(
        name=hook.name,
        uri=hook.uri,
        actions=[wire.Action(action.value) for action in hook.actions],
        scope=hook.scope,
        headers=hook.headers,
        status=wire.WebhookStatus(hook.status.value),
        created_at=_time(hook.created_at),
    )


def _with_secret(created: webhook_model.WebhookWithSecret) -> WebhookWithSecret:
    return WebhookWithSecret(**_webhook(created.webhook).model_dump(), secret=created.secret)


def _delivery(found: webhook_model.Delivery) -> Delivery:
    return Delivery(
        **{
            **asdict(found),
            "next_attempt_at": _optional_time(found.next_attempt_at),
            "created_at": _time(found.created_at),
            "delivered_at": _optional_time(found.delivered_at),
        }
    )


@router.get("/webhooks")
def list_webhooks(_: Reader, webhooks: WebhooksDep) -> list[Webhook]:
    return [_webhook(hook) for hook in webhooks.definitions.list_webhooks()]


@router.post("/webhooks", status_code=201)
def create_webhook(body: WebhookCreate, _: Writer, webhooks: WebhooksDep) -> WebhookWithSecret:
    """Create a webhook. The answer carries the secret that signs its deliveries."""
    created = webhooks.definitions.create(
        body.name,
        body.uri,
        _actions(body.actions),
        body.scope,
        body.headers,
        WebhookStatus(body.status.value),
    )
    return _with_secret(created)


@router.get("/webhooks/{name}")
def get_webhook(name: str, _: Reader, webhooks: WebhooksDep) -> Webhook:
    return _webhook(webhooks.definitions.get(name))


@router.patch("/webhooks/{name}", response_model=None)
def update_webhook(
    name: str, body: WebhookUpdate, _: Writer, webhooks: WebhooksDep
) -> Webhook | WebhookWithSecret:
    updated = webhooks.definitions.update(
        name,
        uri=body.uri,
        actions=None if body.actions is None else _actions(body.actions),
        scope=body.scope,
        headers=body.headers,
        status=None if body.status is None else WebhookStatus(body.status.value),
        regenerate_secret=body.regenerate_secret,
    )
    if isinstance(updated, webhook_model.WebhookWithSecret):
        return _with_secret(updated)
    return _webhook(updated)


@router.delete("/webhooks/{name}", status_code=204)
def delete_webhook(name: str, _: Writer, webhooks: WebhooksDep) -> Response:
    """Delete a webhook and its deliveries, pending ones included."""
    webhooks.definitions.delete(name)
    return Response(status_code=204)


@router.post("/webhooks/{name}/ping")
def ping_webhook(name: str, _: Writer, webhooks: WebhooksDep) -> Delivery:
    """Send a `ping` event now; the answer is the recorded delivery."""
    return _delivery(webhooks.delivery.ping(name))


@router.get("/webhooks/{name}/events")
def list_webhook_events(
    name: str,
    _: Reader,
    webhooks: WebhooksDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Delivery]:
    """The webhook's deliveries, newest first, with the last attempt's request and response."""
    return [_delivery(found) for found in webhooks.delivery.history(name, limit)]
