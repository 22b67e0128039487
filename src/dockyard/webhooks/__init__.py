"""Webhooks: definitions, fan-out of the event outbox into deliveries, and delivery."""

from dockyard.webhooks.service import (
    ACTIONS,
    WebhookError,
    WebhookService,
    WebhookSettings,
    scope_matches,
    signature,
)

__all__ = [
    "ACTIONS",
    "WebhookError",
    "WebhookService",
    "WebhookSettings",
    "scope_matches",
    "signature",
]
