"""The retention policy for untagged manifests (Premium), applied by the background cleanup job.

ACR's rules: an untagged manifest is deleted `retention_days` (0-365) after it lost its last
tag, counted from when it was pushed for one that never had a tag; only manifests untagged
after the policy was switched on count; a manifest with `deleteEnabled` or `writeEnabled`
false stays; and the policy must still be on when the deletion happens. As everywhere in
cleanup, a manifest that an index lists, or a referrer whose subject is present, stays.

Each deletion goes through ManifestService.delete (locks, events, soft delete) with a guard
that checks all of this again in the deleting transaction, after locking the row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select, true

from dockyard.errors import DockyardError
from dockyard.registry import recycle_bin
from dockyard.registry.locks import undeletable
from dockyard.registry.manifests import DeleteGuard, ManifestService
from dockyard.registry.untagging import unneeded_untagged
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import manifests, repositories
from dockyard.tiers.settings import (
    Policies,
    load_policies,
    mark_retention_since,
    retention_since,
)

DAY_SECONDS = 86400.0


def policies_changed(conn: Connection, before: Policies, after: Policies) -> None:
    """Called in the transaction that changes the policies."""
    if after.retention_enabled and not before.retention_enabled:
        mark_retention_since(conn, time.time())
    if after.soft_delete_days != before.soft_delete_days:
        recycle_bin.reschedule(conn, after.soft_delete_days)


@dataclass
class RetentionReport:
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # ... and why


def _window(conn: Connection, now: float) -> tuple[float, float] | None:
    """(since, cutoff): untagged no earlier than `since` and no later than `cutoff`; None while
    the policy is off."""
    policies = load_policies(conn)
    if not (policies.retention_enabled and policies.limits.retention_policy):
        return None
    since = retention_since(conn)
    if since is None:
        return None
    return since, now - policies.retention_days * DAY_SECONDS


def _expired(since: float, cutoff: float) -> Any:
    moment = func.coalesce(manifests.c.untagged_at, manifests.c.created_at)
    return (moment >= since) & (moment <= cutoff) & unneeded_untagged() & ~undeletable(manifests)


class RetentionService:
    def __init__(self, db: Database, manifests_service: ManifestService) -> None:
        self._db = db
        self._manifests = manifests_service

    def _start(self, now: float) -> tuple[float, float] | None:
        with self._db.read() as conn:
            policies = load_policies(conn)
            since = retention_since(conn)
            window = _window(conn, now)
        if policies.retention_enabled and since is None:
            # Switched on before the time was recorded: count from now on.
            with self._db.write() as conn:
                if retention_since(conn) is None:
                    mark_retention_since(conn, now)
        return window

    def run(self, now: float | None = None) -> RetentionReport:
        """Delete the untagged manifests whose time is up; several rounds, since deleting an
        index can leave its children unlisted."""
        report = RetentionReport()
        moment = time.time() if now is None else now
        window = self._start(moment)
        if window is None:
            return report
        seen: set[tuple[int, str]] = set()
        while True:
            with self._db.read() as conn:
                rows = conn.execute(
                    select(repositories.c.name, manifests.c.repository_id, manifests.c.digest)
                    .select_from(
                        manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
                    )
                    .where(_expired(*window), repositories.c.write_enabled == true())
                    .order_by(manifests.c.repository_id, manifests.c.digest)
                ).all()
            fresh = [(str(n), int(r), str(d)) for n, r, d in rows if (int(r), str(d)) not in seen]
            if not fresh:
                return report
            for name, repo_id, digest in fresh:
                seen.add((repo_id, digest))
                try:
                    if self._manifests.delete(name, digest, None, _guard(digest, moment)):
                        report.deleted.append((name, digest))
                except DockyardError as exc:  # a lock or a concurrent change came first
                    report.refused.append((name, digest, exc.message))


def _guard(digest: str, now: float) -> DeleteGuard:
    def still_expired(conn: Connection, repo_id: int) -> bool:
        window = _window(conn, now)
        if window is None:
            return False
        row = conn.execute(
            select(manifests.c.digest)
            .where(
                manifests.c.repository_id == repo_id,
                manifests.c.digest == digest,
                _expired(*window),
            )
            .with_for_update()
        ).first()
        return row is not None

    return still_expired
