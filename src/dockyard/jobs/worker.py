"""The in-process background loop of `dockyard serve`."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid

from anyio import to_thread

from dockyard.jobs.leases import take_lease
from dockyard.registry.core import Registry
from dockyard.webhooks import Webhooks

log = logging.getLogger("dockyard.jobs")


class BackgroundWorker:
    def __init__(
        self,
        registry: Registry,
        gc_interval_seconds: float,
        webhooks: Webhooks | None = None,
        webhook_poll_seconds: float = 0.5,
        cleanup_interval_seconds: float = 3600.0,
    ) -> None:
        self._registry = registry
        self._interval = gc_interval_seconds
        self._webhooks = webhooks
        self._webhook_poll = webhook_poll_seconds
        self._cleanup_interval = cleanup_interval_seconds
        self.holder = uuid.uuid4().hex

    async def run_webhooks(self) -> None:
        """Fan events out to webhooks and send due deliveries, in one process at a time."""
        while True:
            await asyncio.sleep(self._webhook_poll * random.uniform(0.9, 1.1))
            try:
                await to_thread.run_sync(self.deliver_webhooks_once)
            except Exception:
                log.exception("webhook delivery failed; retrying at the next poll")

    def deliver_webhooks_once(self) -> int:
        if self._webhooks is None or not self._webhooks.has_work():
            return 0
        # Long enough to cover one batch of sends (each bounded by the request timeout), and
        # short, so that a crashed holder's successor takes over soon; renewed per batch.
        seconds = self._webhooks.settings.timeout_seconds * 1.5 + self._webhook_poll * 2
        sent = 0
        # Drain what is due now (bounded), so a burst does not wait a poll per batch.
        for _ in range(10):
            if not take_lease(self._registry.db, "webhooks", self.holder, seconds):
                break
            count = self._webhooks.run_once()
            sent += count
            if count == 0:
                break
        return sent

    async def run(self) -> None:
        while True:
            # Jitter spreads the processes' attempts; the lease lets one of them run GC.
            await asyncio.sleep(self._interval * random.uniform(0.9, 1.1))
            try:
                await to_thread.run_sync(self.collect_garbage_once)
            except Exception:
                log.exception("garbage collection failed; retrying at the next interval")

    def collect_garbage_once(self) -> bool:
        if not take_lease(self._registry.db, "gc", self.holder, self._interval * 0.8):
            return False
        report = self._registry.gc.run()
        if report.blobs or report.manifests or report.uploads or report.orphan_files:
            log.info(
                "gc: %d blobs, %d manifests, %d uploads, %d orphan files, %d bytes freed",
                len(report.blobs),
                len(report.manifests),
                len(report.uploads),
                len(report.orphan_files),
                report.bytes_freed,
            )
        return True

    async def run_cleanup(self) -> None:
        """The retention policy and the expiry of the recycle bin, in one process at a time."""
        while True:
            await asyncio.sleep(self._cleanup_interval * random.uniform(0.9, 1.1))
            try:
                await to_thread.run_sync(self.clean_up_once)
            except Exception:
                log.exception("cleanup failed; retrying at the next interval")

    def clean_up_once(self) -> bool:
        if not take_lease(self._registry.db, "cleanup", self.holder, self._cleanup_interval * 0.8):
            return False
        retained = self._registry.retention.run()
        expired = self._registry.soft_delete.expire()
        if retained.deleted or retained.refused or expired:
            log.info(
                "cleanup: %d untagged manifests deleted by the retention policy (%d refused), "
                "%d recycle-bin entries expired",
                len(retained.deleted),
                len(retained.refused),
                expired,
            )
        return True
