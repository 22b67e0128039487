"""Webhook deliveries still to be sent or given up, counted by status for `/metrics`."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from dockyard.storage.db.schema import webhook_deliveries
from dockyard.webhooks.model import DeliveryStatus

# Series label -> status in the database.
DELIVERY_STATES = {
    "pending": DeliveryStatus.PENDING.value,
    "failed": DeliveryStatus.DEAD.value,
}

_DELIVERIES_BY_STATUS = (
    select(webhook_deliveries.c.status, func.count())
    .where(webhook_deliveries.c.status.in_(list(DELIVERY_STATES.values())))
    .group_by(webhook_deliveries.c.status)
)


def undelivered(conn: Connection) -> dict[str, int]:
    """Series label -> deliveries in that status."""
    counts = {str(s): int(n) for s, n in conn.execute(_DELIVERIES_BY_STATUS)}
    return {label: counts.get(status, 0) for label, status in DELIVERY_STATES.items()}
