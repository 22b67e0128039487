"""The recycle bin as users see it: the deleted manifests and tags of a repository, restoring
them, and the expiry of old entries (see recycle_bin.py for how deletions are kept).

A restore pushes the kept bytes again through the normal push path (locks, checks, events),
so the manifest comes back with the same digest and bytes. As in ACR, an index comes back only
when its child manifests are there, a referrer only when its subject is, and a tag that now
points at another manifest is moved only with `force` (its old target is then kept in the
recycle bin as a deleted tag, when soft delete is on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, select, update

from dockyard.errors import (
    Conflict,
    ManifestBlobUnknown,
    ManifestUnknown,
    NameUnknown,
    Unsupported,
)
from dockyard.events import RequestInfo
from dockyard.registry import recycle_bin
from dockyard.registry.manifests import ManifestService
from dockyard.registry.names import check_digest, check_name, check_tag
from dockyard.registry.recycle_bin import MANIFEST, TAG, Entry
from dockyard.registry.repositories import ensure_repository, repository_id
from dockyard.spec.manifest import ManifestError, parse_manifest
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import blobs, manifests, repository_blobs, tags

_EXPIRY_BATCH = 500


@dataclass(frozen=True, slots=True)
class DeletedManifest:
    digest: str
    media_type: str
    size: int
    tags: tuple[str, ...]
    deleted_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class DeletedTag:
    tag: str
    digest: str
    deleted_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Restored:
    digest: str
    manifest_restored: bool  # False when the manifest was still (or again) in the repository
    tags: tuple[str, ...]  # the tags that point at it again
    moved: tuple[str, ...] = ()  # of those, the ones moved from another manifest (force)
    skipped: tuple[str, ...] = ()  # deleted tags left alone: they point elsewhere now


@dataclass
class _Plan:
    digest: str
    media_type: str
    content: bytes
    restoring: bool  # False when the manifest is in the repository (only tags come back)
    manifest_entry: Entry | None  # the newest deletion of the manifest, if any
    tag_entries: list[Entry]  # tag entries of this digest
    restore: list[str] = field(default_factory=list)  # tags to point at the manifest
    moved: dict[str, str] = field(default_factory=dict)  # tag -> the manifest it left
    already: list[str] = field(default_factory=list)  # deleted tags that point at it again
    skipped: list[str] = field(default_factory=list)


class SoftDeleteService:
    def __init__(
        self, db: Database, manifests: ManifestService, allow_sparse_manifests: bool
    ) -> None:
        self._db = db
        self._manifests = manifests
        self._allow_sparse_manifests = allow_sparse_manifests

    def _entries(self, conn: Connection, name: str) -> list[Entry]:
        found = recycle_bin.entries(conn, name)
        if not found and repository_id(conn, name) is None:
            raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
        return found

    def deleted_manifests(self, name: str) -> list[DeletedManifest]:
        check_name(name)
        with self._db.read() as conn:
            found = self._entries(conn, name)
        return [
            DeletedManifest(
                e.digest,
                e.media_type or "",
                e.size,
                e.tags,
                e.deleted_at,
                e.expires_at,
            )
            for e in found
            if e.kind == MANIFEST
        ]

    def deleted_tags(self, name: str, tag: str | None = None) -> list[DeletedTag]:
        """Tags deleted on their own and the tags of deleted manifests, newest first."""
        check_name(name)
        if tag is not None:
            check_tag(tag)
        with self._db.read() as conn:
            found = self._entries(conn, name)
        return [
            DeletedTag(name_, e.digest, e.deleted_at, e.expires_at)
            for e in found
            for name_ in e.deleted_tags
            if tag is None or name_ == tag
        ]

    def restore(
        self,
        name: str,
        digest: str | None = None,
        tag: str | None = None,
        force: bool = False,
        request: RequestInfo | None = None,
    ) -> Restored:
        """Bring back a deleted manifest (by digest, or the one most recently deleted with
        `tag`) with every deleted tag of it, or only `tag`."""
        check_name(name)
        if tag is not None:
            check_tag(tag)
        wanted = str(check_digest(digest)) if digest is not None else None
        if wanted is None and tag is None:
            raise Unsupported("give the digest of the manifest to restore, its tag, or both")
        with self._db.write() as conn:
            plan = self._plan(conn, name, wanted, tag, force)
        if plan.restoring or plan.restore:
            self._manifests.put(
                name, plan.digest, plan.content, plan.media_type, list(plan.restore), request
            )
        with self._db.write() as conn:
            self._finish(conn, name, plan)
        return Restored(
            plan.digest,
            plan.restoring,
            tuple(sorted([*plan.restore, *plan.already])),
            tuple(sorted(plan.moved)),
            tuple(sorted(plan.skipped)),
        )

    def _plan(
        self, conn: Connection, name: str, digest: str | None, tag: str | None, force: bool
    ) -> _Plan:
        found = recycle_bin.entries(conn, name)
        if digest is None:
            latest = next((e for e in found if tag in e.deleted_tags), None)
            if latest is None:
                raise ManifestUnknown(
                    f"no deleted tag {tag!r} in the recycle bin of {name!r}",
                    detail={"repository": name, "tag": tag},
                )
            digest = latest.digest
        manifest_entry = next((e for e in found if e.kind == MANIFEST and e.digest == digest), None)
        tag_entries = [e for e in found if e.kind == TAG and e.digest == digest]
        if manifest_entry is None and not tag_entries:
            raise ManifestUnknown(
                f"nothing of {digest} is in the recycle bin of {name!r}",
                detail={"repository": name, "digest": digest},
            )
        repo_id = repository_id(conn, name)
        present = None
        if repo_id is not None:
            present = conn.execute(
                select(manifests.c.media_type, manifests.c.content).where(
                    manifests.c.repository_id == repo_id, manifests.c.digest == digest
                )
            ).first()
        if present is not None:
            # The manifest is there (a tag was deleted, or it was pushed again): only tags return.
            media_type, content = str(present[0]), bytes(present[1])
            restoring_manifest = False
        elif manifest_entry is not None and (kept := recycle_bin.content(conn, manifest_entry.id)):
            media_type, content = manifest_entry.media_type or "", kept
            restoring_manifest = True
        else:
            raise ManifestUnknown(
                f"manifest {digest} is neither in {name!r} nor in its recycle bin (only tags "
                "of it are)",
                detail={"repository": name, "digest": digest},
            )
        deleted: list[str] = []
        for entry in ([manifest_entry] if manifest_entry else []) + tag_entries:
            deleted += [t for t in entry.deleted_tags if t not in deleted]
        if tag is not None and tag not in deleted:
            raise ManifestUnknown(
                f"tag {tag!r} of {digest} is not in the recycle bin of {name!r}",
                detail={"repository": name, "digest": digest, "tag": tag},
            )
        plan = _Plan(digest, media_type, content, restoring_manifest, manifest_entry, tag_entries)
        self._plan_tags(conn, repo_id, plan, [tag] if tag is not None else deleted, force, tag)
        if restoring_manifest:
            self._check_references(conn, name, repo_id, plan)
            repo_id = ensure_repository(conn, name)
            assert plan.manifest_entry is not None
            _link_blobs(conn, repo_id, recycle_bin.entry_blobs(conn, plan.manifest_entry.id))
        return plan

    @staticmethod
    def _plan_tags(
        conn: Connection,
        repo_id: int | None,
        plan: _Plan,
        names: list[str],
        force: bool,
        explicit: str | None,
    ) -> None:
        current: dict[str, str] = {}
        if repo_id is not None and names:
            current = {
                str(r[0]): str(r[1])
                for r in conn.execute(
                    select(tags.c.name, tags.c.manifest_digest).where(
                        tags.c.repository_id == repo_id, tags.c.name.in_(names)
                    )
                )
            }
        for name in names:
            target = current.get(name)
            if target is None:
                plan.restore.append(name)
            elif target == plan.digest:
                plan.already.append(name)
            elif force:
                plan.restore.append(name)
                plan.moved[name] = target
            elif explicit is not None:
                raise Conflict(
                    f"tag {name!r} now points at {target}; restore with force to move it",
                    detail={"tag": name, "digest": target},
                )
            else:
                plan.skipped.append(name)

    def _check_references(
        self, conn: Connection, name: str, repo_id: int | None, plan: _Plan
    ) -> None:
        """Refuse before anything is written: an index needs its children, a referrer its
        subject, and every blob must still be stored."""
        try:
            parsed = parse_manifest(plan.content, plan.media_type)
        except ManifestError as exc:  # pragma: no cover - it was accepted when pushed
            raise ManifestUnknown(f"the kept manifest {plan.digest} cannot be read: {exc}") from exc
        present: set[str] = set()
        wanted = [str(d.digest) for d in parsed.children]
        if parsed.subject is not None:
            wanted.append(str(parsed.subject.digest))
        if repo_id is not None and wanted:
            present = {
                str(r[0])
                for r in conn.execute(
                    select(manifests.c.digest).where(
                        manifests.c.repository_id == repo_id, manifests.c.digest.in_(wanted)
                    )
                )
            }
        if parsed.subject is not None and str(parsed.subject.digest) not in present:
            raise ManifestBlobUnknown(
                f"restore the subject {parsed.subject.digest} of {plan.digest} first",
                detail={"digest": plan.digest, "subject": str(parsed.subject.digest)},
            )
        if not self._allow_sparse_manifests:
            absent = [str(d.digest) for d in parsed.children if str(d.digest) not in present]
            if absent:
                raise ManifestBlobUnknown(
                    f"index {plan.digest} lists manifest {absent[0]}, which is not in {name!r}: "
                    "restore or push it first",
                    detail={"digest": plan.digest, "child": absent[0]},
                )
        assert plan.manifest_entry is not None
        needed = recycle_bin.entry_blobs(conn, plan.manifest_entry.id)
        stored = {
            str(r[0])
            for r in conn.execute(select(blobs.c.digest).where(blobs.c.digest.in_(needed)))
        }
        missing = [d for d in needed if d not in stored]
        if missing and not self._allow_sparse_manifests:
            raise ManifestBlobUnknown(
                f"blob {missing[0]} of {plan.digest} is no longer stored",
                detail={"digest": missing[0]},
            )

    @staticmethod
    def _finish(conn: Connection, name: str, plan: _Plan) -> None:
        back = set(plan.restore) | set(plan.already)
        consumed = [e.id for e in plan.tag_entries if e.tag in back]
        if plan.manifest_entry is not None:
            consumed.append(plan.manifest_entry.id)
            left = [t for t in plan.manifest_entry.tags if t not in back]
            # Tags of the entry that did not come back stay restorable on their own.
            recycle_bin.tags_as_entries(conn, plan.manifest_entry, left)
        recycle_bin.remove(conn, consumed)
        for moved, previous in plan.moved.items():
            recycle_bin.keep_tag(conn, name, moved, previous)

    def expire(self, now: float | None = None) -> int:
        """Remove the entries past their expiry (garbage collection then frees their blobs);
        returns how many went."""
        moment = time.time() if now is None else now
        removed = 0
        while True:
            with self._db.write() as conn:
                batch = recycle_bin.expired(conn, moment, _EXPIRY_BATCH)
                recycle_bin.remove(conn, [entry_id for entry_id, *_ in batch])
            removed += len(batch)
            if len(batch) < _EXPIRY_BATCH:
                return removed


def _link_blobs(conn: Connection, repo_id: int, digests: list[str]) -> None:
    """Make the kept blobs visible in the repository again (links a repository delete took)."""
    now = time.time()
    for digest in digests:
        inserted = insert_ignore(
            conn, repository_blobs, {"repository_id": repo_id, "digest": digest, "touched_at": now}
        )
        if not inserted:
            conn.execute(
                update(repository_blobs)
                .where(
                    repository_blobs.c.repository_id == repo_id, repository_blobs.c.digest == digest
                )
                .values(touched_at=now)
            )
