"""The registry's periodic jobs: garbage collection, and cleanup (the retention policy and
the expiry of the recycle bin), each in one process at a time."""

from __future__ import annotations

import logging

from dockyard.periodic import Job, Lease
from dockyard.registry.core import Registry

log = logging.getLogger("dockyard.jobs")

GC = "gc"
CLEANUP = "cleanup"


def registry_jobs(
    registry: Registry,
    *,
    gc_interval_seconds: float,
    gc_enabled: bool,
    cleanup_interval_seconds: float,
) -> list[Job]:
    def collect_garbage() -> None:
        report = registry.gc.run()
        if report.blobs or report.manifests or report.uploads or report.orphan_files:
            log.info(
                "gc: %d blobs, %d manifests, %d uploads, %d orphan files, %d bytes freed",
                len(report.blobs),
                len(report.manifests),
                len(report.uploads),
                len(report.orphan_files),
                report.bytes_freed,
            )

    def clean_up() -> None:
        retained = registry.retention.run()
        expired = registry.soft_delete.expire()
        if retained.deleted or retained.refused or expired:
            log.info(
                "cleanup: %d untagged manifests deleted by the retention policy (%d refused), "
                "%d recycle-bin entries expired",
                len(retained.deleted),
                len(retained.refused),
                expired,
            )

    # The leases run out before the next interval: they keep two processes from running a
    # job at once, not one process from running it next time.
    return [
        Job(
            GC,
            gc_interval_seconds,
            collect_garbage,
            Lease(GC, gc_interval_seconds * 0.8),
            enabled=gc_enabled,
            description="garbage collection: unreferenced blobs, idle uploads, orphan files",
        ),
        Job(
            CLEANUP,
            cleanup_interval_seconds,
            clean_up,
            Lease(CLEANUP, cleanup_interval_seconds * 0.8),
            description="the retention policy and the expiry of the recycle bin",
        ),
    ]
