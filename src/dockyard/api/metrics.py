"""What `/metrics` answers: the per-process series (summed over the worker processes from the
multiprocess directory) and gauges read from the database when scraped.

The database gauges are computed by the process that answers the scrape, from one read
transaction, so with N workers they are reported once (never summed N times). They are
cached for a short time per process, so a burst of scrapes costs the database one read per
process per `ttl_seconds`; a scrape while the database is unreachable answers the last values
(or none) rather than failing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from dockyard import telemetry
from dockyard.registry.usage import stored_bytes
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import repositories, task_runs, webhook_deliveries
from dockyard.tasks.model import QUEUED, RUNNING, STARTED
from dockyard.webhooks import DeliveryStatus

log = logging.getLogger("dockyard.metrics")

# Series label -> status in the database.
_RUN_STATES = {"queued": QUEUED, "started": STARTED, "running": RUNNING}
_DELIVERY_STATES = {
    "pending": DeliveryStatus.PENDING.value,
    "failed": DeliveryStatus.DEAD.value,
}

_RUNS_BY_STATUS = (
    select(task_runs.c.status, func.count())
    .where(task_runs.c.status.in_(list(_RUN_STATES.values())))
    .group_by(task_runs.c.status)
)
_DELIVERIES_BY_STATUS = (
    select(webhook_deliveries.c.status, func.count())
    .where(webhook_deliveries.c.status.in_(list(_DELIVERY_STATES.values())))
    .group_by(webhook_deliveries.c.status)
)
_REPOSITORY_COUNT = select(func.count()).select_from(repositories)


@dataclass(frozen=True, slots=True)
class Snapshot:
    storage_bytes: int
    repositories: int
    runs: dict[str, int]  # series label -> count
    deliveries: dict[str, int]


class DatabaseGauges:
    """A prometheus_client collector of what the database holds."""

    def __init__(self, db: Database, ttl_seconds: float = 2.0) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._taken: Snapshot | None = None
        self._taken_at = 0.0

    def snapshot(self) -> Snapshot | None:
        with self._lock:  # concurrent scrapes of one process wait for one read
            if self._taken is not None and time.monotonic() - self._taken_at < self._ttl:
                return self._taken
            try:
                self._taken = self._read()
            except Exception:  # a scrape reports what it can; the database may be down
                log.warning("metrics: the database gauges could not be read", exc_info=True)
            self._taken_at = time.monotonic()
            return self._taken

    def _read(self) -> Snapshot:
        with self._db.read() as conn:
            stored = stored_bytes(conn)
            repository_count = int(conn.execute(_REPOSITORY_COUNT).scalar_one())
            runs = {str(s): int(n) for s, n in conn.execute(_RUNS_BY_STATUS)}
            deliveries = {str(s): int(n) for s, n in conn.execute(_DELIVERIES_BY_STATUS)}
        return Snapshot(
            stored,
            repository_count,
            {label: runs.get(status, 0) for label, status in _RUN_STATES.items()},
            {label: deliveries.get(status, 0) for label, status in _DELIVERY_STATES.items()},
        )

    def collect(self) -> Iterator[Metric]:
        failures = CounterMetricFamily(
            "dockyard_metrics_write_failures",
            "Metric updates that failed in the process answering this scrape (not summed)",
        )
        failures.add_metric([], telemetry.write_failures())
        yield failures
        taken = self.snapshot()
        if taken is None:
            return
        yield GaugeMetricFamily(
            "dockyard_storage_bytes",
            "Bytes stored: every blob once, plus every manifest",
            value=taken.storage_bytes,
        )
        yield GaugeMetricFamily(
            "dockyard_repositories", "Repositories in the registry", value=taken.repositories
        )
        runs = GaugeMetricFamily(
            "dockyard_task_runs", "Task runs not yet final, by status", labels=["status"]
        )
        for label, count in taken.runs.items():
            runs.add_metric([label], count)
        yield runs
        deliveries = GaugeMetricFamily(
            "dockyard_webhook_deliveries",
            "Webhook deliveries still to be sent (pending) or given up (failed)",
            labels=["status"],
        )
        for label, count in taken.deliveries.items():
            deliveries.add_metric([label], count)
        yield deliveries


class _ThisProcess:
    """The default registry's series, for a server without a multiprocess directory."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def render(gauges: DatabaseGauges, multiprocess_dir: bool) -> bytes:
    """The text exposition of every series (blocking: run it in a worker thread)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(gauges)
    return generate_latest(registry)
