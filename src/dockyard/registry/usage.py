"""Storage used by the registry and by each repository, and the hard storage limit.

The registry's storage counts what is stored: every blob once (however many repositories link
it, including blobs no manifest needs any more until garbage collection frees them) plus every
manifest. A repository's size counts the blobs its manifests need, each once, plus its
manifests; the sum of the repositories' sizes counts a blob shared by two repositories twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from dockyard.errors import Denied, NameUnknown
from dockyard.registry.names import check_name
from dockyard.spec.sizes import human_bytes
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import (
    blobs,
    manifest_blobs,
    manifests,
    repositories,
    storage_usage,
    tags,
)


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    name: str
    size_bytes: int  # its manifests plus the blobs they need, each blob once
    manifest_count: int
    tag_count: int
    blob_count: int


@dataclass(frozen=True, slots=True)
class RegistryUsage:
    storage_bytes: int  # blob_bytes + manifest_bytes: what is stored, deduplicated
    blob_bytes: int
    manifest_bytes: int
    repositories_bytes: int  # the sum of the repositories' sizes (not deduplicated)
    repository_count: int
    manifest_count: int
    tag_count: int
    blob_count: int
    storage_limit_bytes: int
    repositories: list[RepositoryUsage]


_STORED = select(storage_usage.c.bytes).where(storage_usage.c.id == 1)
_STORED_FOR_UPDATE = _STORED.with_for_update()


def stored_bytes(conn: Connection, for_update: bool = False) -> int:
    """Blob plus manifest bytes, from the counter that database triggers keep."""
    return int(conn.execute(_STORED_FOR_UPDATE if for_update else _STORED).scalar_one())


def lock_storage(conn: Connection) -> int:
    """Lock the storage counter for the rest of the transaction, so that two pushes cannot
    both fit under the limit and together exceed it (SQLite write transactions are serial
    already); returns the bytes stored."""
    return stored_bytes(conn, for_update=True)


class StorageLimit:
    """The hard limit on stored bytes: a push that would cross it is refused."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes

    def check(self, conn: Connection, adding: int, used: int | None = None) -> None:
        """Raise DENIED when `adding` more bytes would cross the limit."""
        if used is None:
            used = stored_bytes(conn)
        if used + adding > self.limit_bytes:
            raise Denied(
                f"the registry's storage limit of {human_bytes(self.limit_bytes)} would be "
                f"exceeded: {human_bytes(used)} is used and this push needs "
                f"{human_bytes(adding)} more",
                detail={"limitBytes": self.limit_bytes, "usedBytes": used, "neededBytes": adding},
            )

    def check_added(self, conn: Connection, added: int) -> None:
        """Raise DENIED when the `added` bytes, already counted by this transaction's insert,
        took the registry over the limit. The insert's trigger holds the counter row, so
        concurrent pushes are checked one after the other."""
        used = stored_bytes(conn)
        if used > self.limit_bytes:
            self.check(conn, added, used - added)


class UsageService:
    def __init__(self, db: Database, limit: StorageLimit) -> None:
        self._db = db
        self._limit = limit

    def registry(self) -> RegistryUsage:
        with self._db.read() as conn:
            repos = _repository_usages(conn, None)
            blob_count, blob_bytes = conn.execute(
                select(func.count(), func.coalesce(func.sum(blobs.c.size), 0))
            ).one()
            manifest_count, manifest_bytes = conn.execute(
                select(func.count(), func.coalesce(func.sum(manifests.c.size), 0))
            ).one()
            tag_count = conn.execute(select(func.count()).select_from(tags)).scalar_one()
        return RegistryUsage(
            storage_bytes=int(blob_bytes) + int(manifest_bytes),
            blob_bytes=int(blob_bytes),
            manifest_bytes=int(manifest_bytes),
            repositories_bytes=sum(r.size_bytes for r in repos),
            repository_count=len(repos),
            manifest_count=int(manifest_count),
            tag_count=int(tag_count),
            blob_count=int(blob_count),
            storage_limit_bytes=self._limit.limit_bytes,
            repositories=repos,
        )

    def repository(self, name: str) -> RepositoryUsage:
        check_name(name)
        with self._db.read() as conn:
            found = _repository_usages(conn, name)
        if not found:
            raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
        return found[0]


def _repository_usages(conn: Connection, only: str | None) -> list[RepositoryUsage]:
    repo_query = select(repositories.c.id, repositories.c.name).order_by(repositories.c.name)
    if only is not None:
        repo_query = repo_query.where(repositories.c.name == only)
    names = {int(r[0]): str(r[1]) for r in conn.execute(repo_query)}
    if not names:
        return []
    scope = list(names)
    needed = (
        select(manifest_blobs.c.repository_id, manifest_blobs.c.blob_digest)
        .where(manifest_blobs.c.repository_id.in_(scope))
        .distinct()
        .subquery()
    )
    blob_rows = conn.execute(
        select(needed.c.repository_id, func.count(), func.sum(blobs.c.size))
        .select_from(needed.join(blobs, blobs.c.digest == needed.c.blob_digest))
        .group_by(needed.c.repository_id)
    ).all()
    manifest_rows = conn.execute(
        select(manifests.c.repository_id, func.count(), func.sum(manifests.c.size))
        .where(manifests.c.repository_id.in_(scope))
        .group_by(manifests.c.repository_id)
    ).all()
    tag_rows = conn.execute(
        select(tags.c.repository_id, func.count())
        .where(tags.c.repository_id.in_(scope))
        .group_by(tags.c.repository_id)
    ).all()
    blob_stats = {int(r[0]): (int(r[1]), int(r[2] or 0)) for r in blob_rows}
    manifest_stats = {int(r[0]): (int(r[1]), int(r[2] or 0)) for r in manifest_rows}
    tag_counts = {int(r[0]): int(r[1]) for r in tag_rows}
    usages = []
    for repo_id, name in names.items():
        blob_count, blob_bytes = blob_stats.get(repo_id, (0, 0))
        manifest_count, manifest_bytes = manifest_stats.get(repo_id, (0, 0))
        usages.append(
            RepositoryUsage(
                name=name,
                size_bytes=blob_bytes + manifest_bytes,
                manifest_count=manifest_count,
                tag_count=tag_counts.get(repo_id, 0),
                blob_count=blob_count,
            )
        )
    return usages


_REPOSITORY_COUNT = select(func.count()).select_from(repositories)


def repository_count(conn: Connection) -> int:
    return int(conn.execute(_REPOSITORY_COUNT).scalar_one())
