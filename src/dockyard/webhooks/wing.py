"""The webhooks wing, built once from its settings: definitions for the management API, and
`run_once` / `has_work` for the background job (fan-out, then the due deliveries)."""

from __future__ import annotations

from dockyard.netguard import Resolver, guard_for, resolve
from dockyard.storage.db.database import Database
from dockyard.webhooks.definitions import WebhookDefinitions
from dockyard.webhooks.delivery import WebhookDelivery
from dockyard.webhooks.fanout import FanOut
from dockyard.webhooks.model import WebhookSettings


class Webhooks:
    def __init__(
        self,
        db: Database,
        settings: WebhookSettings | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.settings = settings or WebhookSettings()
        guard = guard_for(
            "webhook_allow_private_targets", self.settings.allow_private_targets, resolver
        )
        self.definitions = WebhookDefinitions(db, guard)
        self.fanout = FanOut(db)
        self.delivery = WebhookDelivery(db, self.settings, guard)

    def has_work(self) -> bool:
        """Whether events wait to be fanned out or deliveries are due: reads only, so that
        idle polls take no lease and no write lock."""
        return self.fanout.has_work() or self.delivery.has_due()

    def run_once(self) -> int:
        """Fan out, then send one batch of due deliveries; the count sent."""
        self.fanout.run_once()
        return self.delivery.send_due()
