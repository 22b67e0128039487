"""The base-image triggers' share of the task worker: acting on pushes to this registry (the
events outbox, one process at a time under a lease) and polling other registries every
`task_base_image_poll_seconds` (at most once per interval among all processes); and the
HEAD of another registry's manifest that both builds and polls use, through netguard."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from dockyard.jobs.leases import take_lease
from dockyard.netguard import guard_for
from dockyard.registry.remote import RemoteRegistry, parse_source
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import leases
from dockyard.tasks.base_images import BaseImageDigests, ImageSource, RemoteDigest
from dockyard.tasks.base_triggers import BaseImageTriggers
from dockyard.tasks.saved import SavedTasks

EVENTS_LEASE = "task-base-image-triggers"
POLL_LEASE = "task-base-image-poll"
EVENTS_LEASE_SECONDS = 30.0
REMOTE_TIMEOUT_SECONDS = 15.0


def remote_digests(allow_private: bool) -> RemoteDigest:
    """A HEAD of another registry's manifest; its hosts (redirects and token realms too)
    must resolve to public addresses unless `allow_private`."""
    guard = guard_for("task_allow_private_sources", allow_private)

    def digest(source: ImageSource, credentials: tuple[str, str] | None) -> str | None:
        reference = parse_source(f"{source.registry}/{source.repository}:{source.tag}")
        client = RemoteRegistry(reference, credentials, guard, REMOTE_TIMEOUT_SECONDS)
        try:
            return client.manifest_digest(reference.reference)
        finally:
            client.close()

    return digest


class BaseImageJob:
    def __init__(
        self,
        db: Database,
        saved: SavedTasks,
        digests: BaseImageDigests,
        registry_host: str,
        upstream: Sequence[str],
        poll_seconds: float,
        holder: str,
    ) -> None:
        self._db = db
        self._holder = holder
        self._poll_seconds = poll_seconds
        self.triggers = BaseImageTriggers(db, saved, digests, registry_host, upstream)

    def run_once(self) -> None:
        self.act_on_pushes()
        self.poll_when_due()

    def act_on_pushes(self) -> None:
        if not self.triggers.pending():  # a read, so that idle polls take no write lock
            return
        if not take_lease(self._db, EVENTS_LEASE, self._holder, EVENTS_LEASE_SECONDS):
            return
        self.triggers.consume()

    def poll_when_due(self) -> None:
        """Poll other registries when the last poll, by any process, is an interval old: the
        lease is taken by a holder that is new every time, so it is free only once it ran
        out."""
        with self._db.read() as conn:
            until = conn.execute(
                select(leases.c.expires_at).where(leases.c.name == POLL_LEASE)
            ).scalar()
        if until is not None and float(until) > time.time():
            return
        if not take_lease(self._db, POLL_LEASE, uuid.uuid4().hex, self._poll_seconds):
            return
        self.triggers.poll_external()
