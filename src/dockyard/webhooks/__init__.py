"""Webhooks: definitions (definitions.py), the fan-out of outbox events into deliveries
(fanout.py), and delivery with retries (delivery.py); `Webhooks` (wing.py) builds them."""

from dockyard.webhooks.model import (
    Delivery,
    DeliveryStatus,
    Webhook,
    WebhookSettings,
    WebhookStatus,
    WebhookWithSecret,
)
from dockyard.webhooks.wing import Webhooks

__all__ = [
    "Delivery",
    "DeliveryStatus",
    "Webhook",
    "WebhookSettings",
    "WebhookStatus",
    "WebhookWithSecret",
    "Webhooks",
]
