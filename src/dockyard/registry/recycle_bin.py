"""Soft delete: while the registry's policy is on, a manifest deleted by a user is kept in
`recycle_bin` (its exact bytes, its media type, the tags that pointed at it) with a
`recycle_bin_blobs` row for every blob it needs, so that garbage collection keeps them; a
deleted tag is kept as an entry of its own. Entries expire `soft_delete_days` after the
deletion, counted with the policy's current days (as ACR does).

These functions run inside the write transaction of the deletion they record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select, update

from dockyard.storage.db.schema import (
    manifest_blobs,
    manifests,
    recycle_bin,
    recycle_bin_blobs,
    repository_blobs,
    tags,
)
from dockyard.tiers.settings import load_policies

MANIFEST, TAG = "manifest", "tag"
DAY_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    repository: str
    kind: str  # manifest | tag
    digest: str
    tag: str | None  # kind=tag: the deleted tag
    media_type: str | None
    size: int  # kind=manifest: of the kept bytes (see `content`)
    tags: tuple[str, ...]  # kind=manifest: the tags that pointed at it
    deleted_at: float
    expires_at: float

    @property
    def deleted_tags(self) -> tuple[str, ...]:
        return self.tags if self.kind == MANIFEST else ((self.tag,) if self.tag else ())


def retention_days(conn: Connection) -> int | None:
    """The soft-delete days while the policy is on; None while deletions are final."""
    policies = load_policies(conn)
    return policies.soft_delete_days if policies.soft_delete_enabled else None


def keep_manifest(
    conn: Connection, repository: str, repo_id: int, digest: str, days: int | None = None
) -> bool:
    """Keep the manifest about to be deleted (when the policy is on); True when kept."""
    days = retention_days(conn) if days is None else days
    if days is None:
        return False
    row = conn.execute(
        select(manifests.c.media_type, manifests.c.content).where(
            manifests.c.repository_id == repo_id, manifests.c.digest == digest
        )
    ).first()
    if row is None:
        return False
    tag_names = sorted(
        str(r[0])
        for r in conn.execute(
            select(tags.c.name).where(
                tags.c.repository_id == repo_id, tags.c.manifest_digest == digest
            )
        )
    )
    # Only blobs linked in the repository: a sparse manifest may name blobs it never had
    # (a restore links the kept blobs back, and must not link another repository's).
    needed = sorted(
        str(r[0])
        for r in conn.execute(
            select(manifest_blobs.c.blob_digest)
            .select_from(
                manifest_blobs.join(
                    repository_blobs,
                    (repository_blobs.c.repository_id == manifest_blobs.c.repository_id)
                    & (repository_blobs.c.digest == manifest_blobs.c.blob_digest),
                )
            )
            .where(
                manifest_blobs.c.repository_id == repo_id,
                manifest_blobs.c.manifest_digest == digest,
            )
        )
    )
    _store(
        conn,
        repository,
        MANIFEST,
        digest,
        None,
        (str(row[0]), bytes(row[1])),
        tag_names,
        needed,
        days,
    )
    return True


def keep_tag(
    conn: Connection, repository: str, tag: str, digest: str, days: int | None = None
) -> bool:
    """Keep a tag about to be deleted or overwritten (when the policy is on)."""
    days = retention_days(conn) if days is None else days
    if days is None:
        return False
    _store(conn, repository, TAG, digest, tag, None, [], [], days)
    return True


def keep_repository(conn: Connection, repository: str, repo_id: int) -> int:
    """Keep every manifest of a repository about to be deleted; returns how many."""
    days = retention_days(conn)
    if days is None:
        return 0
    digests = [
        str(r[0])
        for r in conn.execute(
            select(manifests.c.digest).where(manifests.c.repository_id == repo_id)
        )
    ]
    return sum(keep_manifest(conn, repository, repo_id, d, days) for d in digests)


def _store(
    conn: Connection,
    repository: str,
    kind: str,
    digest: str,
    tag: str | None,
    manifest: tuple[str, bytes] | None,
    tag_names: list[str],
    blob_digests: list[str],
    days: int,
    deleted_at: float | None = None,
) -> None:
    # One entry per deleted thing: a newer deletion of the same one replaces the older.
    same = (
        (recycle_bin.c.repository == repository)
        & (recycle_bin.c.kind == kind)
        & (recycle_bin.c.digest == digest)
    )
    if kind == TAG:
        same = same & (recycle_bin.c.tag == tag)
    remove(conn, [int(r[0]) for r in conn.execute(select(recycle_bin.c.id).where(same))])
    now = time.time() if deleted_at is None else deleted_at
    result = conn.execute(
        recycle_bin.insert().values(
            repository=repository,
            kind=kind,
            digest=digest,
            tag=tag,
            media_type=manifest[0] if manifest else None,
            content=manifest[1] if manifest else None,
            tags=json.dumps(tag_names) if kind == MANIFEST else None,
            deleted_at=now,
            expires_at=now + days * DAY_SECONDS,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    entry_id = int(key[0])
    if blob_digests:
        conn.execute(
            recycle_bin_blobs.insert(),
            [{"entry_id": entry_id, "blob_digest": d} for d in blob_digests],
        )


def tags_as_entries(conn: Connection, entry: Entry, tag_names: list[str]) -> None:
    """Keep `tag_names` of a manifest entry as tag entries of their own (same times)."""
    days = round((entry.expires_at - entry.deleted_at) / DAY_SECONDS)
    for name in tag_names:
        _store(
            conn, entry.repository, TAG, entry.digest, name, None, [], [], days, entry.deleted_at
        )


def remove(conn: Connection, entry_ids: list[int]) -> None:
    if not entry_ids:
        return
    conn.execute(delete(recycle_bin_blobs).where(recycle_bin_blobs.c.entry_id.in_(entry_ids)))
    conn.execute(delete(recycle_bin).where(recycle_bin.c.id.in_(entry_ids)))


def reschedule(conn: Connection, days: int) -> None:
    """The policy's days changed: every entry now expires `days` after its deletion."""
    conn.execute(
        update(recycle_bin).values(expires_at=recycle_bin.c.deleted_at + days * DAY_SECONDS)
    )


def entries(conn: Connection, repository: str) -> list[Entry]:
    """The repository's entries, newest deletion first."""
    columns = [c for c in recycle_bin.c if c.name != "content"]
    size = func.coalesce(func.length(recycle_bin.c.content), 0).label("size")
    rows = conn.execute(
        select(*columns, size)
        .where(recycle_bin.c.repository == repository)
        .order_by(recycle_bin.c.deleted_at.desc(), recycle_bin.c.id.desc())
    ).all()
    return [
        Entry(
            id=int(r.id),
            repository=str(r.repository),
            kind=str(r.kind),
            digest=str(r.digest),
            tag=r.tag,
            media_type=r.media_type,
            size=int(r.size),
            tags=tuple(json.loads(r.tags)) if r.tags else (),
            deleted_at=float(r.deleted_at),
            expires_at=float(r.expires_at),
        )
        for r in rows
    ]


def content(conn: Connection, entry_id: int) -> bytes | None:
    """The kept bytes of a manifest entry."""
    row = conn.execute(select(recycle_bin.c.content).where(recycle_bin.c.id == entry_id)).first()
    return None if row is None or row[0] is None else bytes(row[0])


def entry_blobs(conn: Connection, entry_id: int) -> list[str]:
    return sorted(
        str(r[0])
        for r in conn.execute(
            select(recycle_bin_blobs.c.blob_digest).where(recycle_bin_blobs.c.entry_id == entry_id)
        )
    )


def expired(conn: Connection, now: float, limit: int = 500) -> list[tuple[int, str, str, str]]:
    """(id, repository, kind, digest) of entries past their expiry, oldest first."""
    return [
        (int(r[0]), str(r[1]), str(r[2]), str(r[3]))
        for r in conn.execute(
            select(
                recycle_bin.c.id, recycle_bin.c.repository, recycle_bin.c.kind, recycle_bin.c.digest
            )
            .where(recycle_bin.c.expires_at <= now)
            .order_by(recycle_bin.c.expires_at)
            .limit(limit)
        )
    ]
