"""The event contract: typed actions and targets, appended to the outbox in the transaction
of the change (`append`), read by each consumer through its own cursor (`Cursor`)."""

from dockyard.events.cursors import GAP_WAIT_SECONDS, Cursor
from dockyard.events.model import (
    Action,
    Consumer,
    Event,
    ManifestDeleteTarget,
    ManifestTarget,
    RepositoryTarget,
    RequestInfo,
    StoredEvent,
    TagDeleteTarget,
    Target,
)
from dockyard.events.outbox import append

__all__ = [
    "GAP_WAIT_SECONDS",
    "Action",
    "Consumer",
    "Cursor",
    "Event",
    "ManifestDeleteTarget",
    "ManifestTarget",
    "RepositoryTarget",
    "RequestInfo",
    "StoredEvent",
    "TagDeleteTarget",
    "Target",
    "append",
]
