"""The in-process background loop of `dockyard serve`."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid

from anyio import to_thread

from dockyard.jobs.leases import take_lease
from dockyard.registry.core import Registry

log = logging.getLogger("dockyard.jobs")


class BackgroundWorker:
    def __init__(self, registry: Registry, gc_interval_seconds: float) -> None:
        self._registry = registry
        self._interval = gc_interval_seconds
        self.holder = uuid.uuid4().hex

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
