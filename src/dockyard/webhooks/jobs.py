"""The webhooks' periodic job: fan events out to webhooks and send the due deliveries, in one
process at a time."""

from __future__ import annotations

from dockyard.periodic import Job, Lease
from dockyard.webhooks.wing import Webhooks

WEBHOOKS = "webhooks"
# Batches sent in a row while deliveries are due, so that a burst does not wait a poll per
# batch (bounded, so that the lease is renewed and other work gets its turn).
DRAIN_BATCHES = 10


def webhook_jobs(webhooks: Webhooks, *, poll_seconds: float) -> list[Job]:
    # Long enough to cover one batch of sends (each bounded by the request timeout), and
    # short, so that a crashed holder's successor takes over soon; renewed per batch.
    lease_seconds = webhooks.settings.timeout_seconds * 1.5 + poll_seconds * 2
    return [
        Job(
            WEBHOOKS,
            poll_seconds,
            webhooks.run_once,
            Lease(WEBHOOKS, lease_seconds),
            description="webhooks: fan events out, send due deliveries (with retries)",
            pending=webhooks.has_work,
            drain=DRAIN_BATCHES,
        )
    ]
