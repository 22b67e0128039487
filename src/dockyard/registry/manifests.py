"""Manifests: push (one transaction: verify references, store, tag), pull and delete."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, select

from dockyard import events
from dockyard.errors import (
    Conflict,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    TooLarge,
    Unsupported,
)
from dockyard.events import (
    Action,
    Event,
    ManifestDeleteTarget,
    ManifestTarget,
    RequestInfo,
    TagDeleteTarget,
)
from dockyard.registry import locks, recycle_bin, untagging
from dockyard.registry.names import check_digest, check_name, check_tag
from dockyard.registry.platform import Platform, image_platform
from dockyard.registry.repositories import repository_id
from dockyard.registry.usage import StorageLimit, lock_storage
from dockyard.spec import mediatypes
from dockyard.spec.digest import digest_of, is_digest_reference
from dockyard.spec.manifest import (
    ManifestError,
    ParsedManifest,
    UnsupportedManifest,
    parse_manifest,
)
from dockyard.storage.db.database import Database, insert_ignore, upsert
from dockyard.storage.db.schema import (
    blobs,
    manifest_blobs,
    manifest_children,
    manifests,
    repositories,
    repository_blobs,
    tags,
)
from dockyard.storage.driver import BlobDriver, blob_key
from dockyard.tiers.settings import load_policies

# Asked inside a delete's transaction (with the repository id): may it go ahead?
DeleteGuard = Callable[[Connection, int], bool]


QUARANTINED, PASSED = "quarantined", "passed"  # manifests.quarantine_state

# The statements of a push, built once (see database.insert_ignore).
_MANIFEST_IN = select(manifests.c.digest).where(
    manifests.c.repository_id == bindparam("repo_id"), manifests.c.digest == bindparam("digest")
)
_MANIFESTS_IN = select(manifests.c.digest).where(
    manifests.c.repository_id == bindparam("repo_id"),
    manifests.c.digest.in_(bindparam("digests", expanding=True)),
)
# FOR SHARE: garbage collection cannot delete these blobs until this push commits.
_BLOBS_IN = (
    select(repository_blobs.c.digest)
    .select_from(repository_blobs.join(blobs, blobs.c.digest == repository_blobs.c.digest))
    .where(
        repository_blobs.c.repository_id == bindparam("repo_id"),
        repository_blobs.c.digest.in_(bindparam("digests", expanding=True)),
    )
    .with_for_update(read=True, of=blobs)
)
_INSERT_MANIFEST_BLOB = manifest_blobs.insert()
_INSERT_MANIFEST_CHILD = manifest_children.insert()
# A pull: the manifest, with the locks that may forbid reading it.
_SERVED = (
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.content,
    repositories.c.read_enabled,
    manifests.c.read_enabled,
    manifests.c.quarantine_state,
)
_MANIFEST_BY_DIGEST = (
    select(*_SERVED)
    .select_from(manifests.join(repositories, repositories.c.id == manifests.c.repository_id))
    .where(repositories.c.name == bindparam("name"), manifests.c.digest == bindparam("reference"))
)
_MANIFEST_BY_TAG = (
    select(*_SERVED, tags.c.read_enabled)
    .select_from(
        tags.join(repositories, repositories.c.id == tags.c.repository_id).join(
            manifests,
            (manifests.c.repository_id == tags.c.repository_id)
            & (manifests.c.digest == tags.c.manifest_digest),
        )
    )
    .where(repositories.c.name == bindparam("name"), tags.c.name == bindparam("reference"))
)


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes
    quarantined: bool = False  # held until a scanner passes it (quarantine policy)

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None
    tags: tuple[str, ...]


class ManifestService:
    def __init__(
        self,
        db: Database,
        driver: BlobDriver,
        allow_sparse_manifests: bool,
        max_bytes: int,
        storage_limit: StorageLimit | None = None,
    ) -> None:
        self._db = db
        self._driver = driver
        self._storage_limit = storage_limit
        self._allow_sparse_manifests = allow_sparse_manifests
        self.max_bytes = max_bytes

    def put(
        self,
        name: str,
        reference: str,
        body: bytes,
        content_type: str | None,
        extra_tags: list[str] | None = None,
        request: RequestInfo | None = None,
        overwrite_tags: bool = True,
    ) -> PushedManifest:
        """Store a manifest and tag it. Without `overwrite_tags` (an import without force) a
        tag that exists already is refused (409 CONFLICT) and nothing is stored."""
        check_name(name)
        if len(body) > self.max_bytes:
            raise TooLarge(f"manifest is {len(body)} bytes; the limit is {self.max_bytes}")
        tag_names: list[str] = []
        if is_digest_reference(reference):
            wanted = check_digest(reference)
            digest = digest_of(body, wanted.algorithm)
            if digest != wanted:
                raise DigestInvalid(
                    f"manifest digest is {digest}, not {wanted}", detail={"digest": reference}
                )
        else:
            tag_names.append(check_tag(reference))
            digest = digest_of(body)
        for extra in extra_tags or []:
            if extra not in tag_names:
                tag_names.append(check_tag(extra))
        try:
            parsed = parse_manifest(body, content_type)
        except UnsupportedManifest as exc:
            raise Unsupported(str(exc)) from exc
        except ManifestError as exc:
            raise ManifestInvalid(str(exc)) from exc
        self._require_blob_bytes(parsed)
        platform = image_platform(self._driver, parsed)  # read before taking the write lock
        with self._db.write() as conn:
            push_into = locks.take_for_push(conn, name, str(digest), tag_names)
            repo_id = push_into.repo_id
            if not overwrite_tags:
                _refuse_existing_tags(conn, repo_id, name, tag_names)
            exists = conn.execute(_MANIFEST_IN, {"repo_id": repo_id, "digest": str(digest)}).first()
            quarantined = inserted = False
            if exists is None:
                if self._storage_limit is not None:
                    self._storage_limit.check(conn, len(body), lock_storage(conn))
                quarantined = load_policies(conn).quarantine_enabled
                inserted = self._insert(
                    conn, repo_id, str(digest), body, parsed, platform, quarantined
                )
            now = time.time()
            for tag in tag_names:
                upsert(
                    conn,
                    tags,
                    {
                        "repository_id": repo_id,
                        "name": tag,
                        "manifest_digest": str(digest),
                        "updated_at": now,
                        "created_at": now,
                    },
                    keys=["repository_id", "name"],
                    update=["manifest_digest", "updated_at"],
                )
            if tag_names:
                if not inserted:  # a new row is not marked untagged
                    untagging.mark_tagged(conn, repo_id, str(digest))
                untagging.mark_untagged(conn, repo_id, push_into.moved_from, now)
            _push_events(conn, name, str(digest), len(body), parsed, tag_names, request)
            if quarantined:
                held: list[str | None] = list(tag_names) or [None]
                for held_tag in held:
                    target = ManifestTarget(
                        name, str(digest), parsed.media_type, len(body), held_tag
                    )
                    events.append(conn, Event(Action.QUARANTINE, target, request))
        subject = str(parsed.subject.digest) if parsed.subject else None
        return PushedManifest(str(digest), subject, tuple(tag_names))

    def _required_blobs(self, parsed: ParsedManifest) -> list[str]:
        """The blobs a push needs in the repository: all but foreign layers, or with sparse
        manifests allowed only the config (the spec lets a registry accept a manifest whose
        blobs it lacks; the config is what the registry reads and clients read first)."""
        blobs = parsed.blobs[:1] if self._allow_sparse_manifests else parsed.blobs
        return sorted({str(d.digest) for d in blobs if not d.is_foreign})

    def _require_blob_bytes(self, parsed: ParsedManifest) -> None:
        """A blob whose file was deleted behind the registry is unknown to a push, so that the
        client uploads it again (which restores the file). One stat per blob, before the lock;
        whether the blob is linked is checked in the transaction."""
        required = set(self._required_blobs(parsed))
        for blob in parsed.blobs:
            if str(blob.digest) not in required:
                continue
            text = str(blob.digest)
            if self._driver.size(blob_key(text)) is None:
                raise ManifestBlobUnknown(
                    f"manifest references blob {text} whose bytes are not in storage",
                    detail={"digest": text},
                )

    def _insert(
        self,
        conn: Connection,
        repo_id: int,
        digest: str,
        body: bytes,
        parsed: ParsedManifest,
        platform: Platform,
        quarantined: bool = False,
    ) -> bool:
        """Whether the row was inserted."""
        needed = self._required_blobs(parsed)
        optional = sorted({str(d.digest) for d in parsed.blobs} - set(needed))
        present = {
            row[0]
            for row in conn.execute(_BLOBS_IN, {"repo_id": repo_id, "digests": needed + optional})
        }
        missing = [d for d in needed if d not in present]
        if missing:
            raise ManifestBlobUnknown(
                f"manifest references blob {missing[0]} that is not in the repository",
                detail={"digest": missing[0]},
            )
        children = sorted({str(d.digest) for d in parsed.children})
        if children and not self._allow_sparse_manifests:
            known = {
                row[0]
                for row in conn.execute(_MANIFESTS_IN, {"repo_id": repo_id, "digests": children})
            }
            absent = [d for d in children if d not in known]
            if absent:
                # The spec's code for a manifest refused for what it references, blob or not.
                raise ManifestBlobUnknown(
                    f"index references manifest {absent[0]} that is not in the repository",
                    detail={"digest": absent[0]},
                )
        row = {
            "repository_id": repo_id,
            "digest": digest,
            "media_type": parsed.media_type,
            "size": len(body),
            "content": body,
            "artifact_type": parsed.referrer_artifact_type,
            "subject_digest": str(parsed.subject.digest) if parsed.subject else None,
            "annotations": json.dumps(parsed.annotations) if parsed.annotations else None,
            "created_at": time.time(),
            "architecture": platform.architecture,
            "os": platform.os,
            "quarantine_state": QUARANTINED if quarantined else None,
        }
        if not insert_ignore(conn, manifests, row):
            return False  # a concurrent push of the same manifest committed first
        # Foreign layers are recorded when stored; with sparse manifests every other blob is,
        # present or not, so that GC keeps one that arrives after the manifest.
        recorded = {d for d in needed + optional if d in present}
        if self._allow_sparse_manifests:
            recorded |= {str(b.digest) for b in parsed.blobs if not b.is_foreign}
        referenced = sorted(recorded)
        if referenced:
            conn.execute(
                _INSERT_MANIFEST_BLOB,
                [
                    {"repository_id": repo_id, "manifest_digest": digest, "blob_digest": d}
                    for d in referenced
                ],
            )
        if children:
            conn.execute(
                _INSERT_MANIFEST_CHILD,
                [
                    {"repository_id": repo_id, "manifest_digest": digest, "child_digest": d}
                    for d in children
                ],
            )
        return True

    def get(self, name: str, reference: str, accept: str | None = None) -> StoredManifest:
        check_name(name)
        by_digest = is_digest_reference(reference)
        if by_digest:
            query, wanted = _MANIFEST_BY_DIGEST, str(check_digest(reference))
        else:
            query, wanted = _MANIFEST_BY_TAG, check_tag(reference)
        with self._db.read() as conn:
            row = conn.execute(query, {"name": name, "reference": wanted}).first()
            if row is None:
                self._raise_unknown(conn, name, reference)
        assert row is not None
        tag_readable = None if by_digest else row[-1]  # by tag, the tag's read_enabled is last
        locks.check_readable(name, reference, row[3], tag_readable, row[4])
        stored = StoredManifest(row[0], row[1], bytes(row[2]), row[5] == QUARANTINED)
        if not mediatypes.accepts(accept, stored.media_type):
            raise ManifestUnknown(
                f"manifest {reference} is a {stored.media_type}, which the request does not accept",
                detail={"mediaType": stored.media_type},
            )
        return stored

    @staticmethod
    def _raise_unknown(conn: Connection, name: str, reference: str) -> None:
        if repository_id(conn, name) is None:
            raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
        raise ManifestUnknown(
            f"manifest {reference} not found in {name!r}", detail={"reference": reference}
        )

    def delete(
        self,
        name: str,
        reference: str,
        request: RequestInfo | None = None,
        only_if: DeleteGuard | None = None,
    ) -> bool:
        """By digest: the manifest and the tags that point at it. By tag: only the tag. With
        soft delete on, what goes is kept in the recycle bin. `only_if` (cleanup jobs) is asked
        in the transaction, after the lock checks; when it says no, nothing is deleted (False)."""
        check_name(name)
        with self._db.write() as conn:
            repo_id = repository_id(conn, name)
            if repo_id is None:
                raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
            locks.check_delete(conn, name, repo_id, reference)
            locks.touch_repository(conn, repo_id)
            if not is_digest_reference(reference):
                check_tag(reference)
                tagged = conn.execute(
                    select(tags.c.manifest_digest).where(
                        tags.c.repository_id == repo_id, tags.c.name == reference
                    )
                ).first()
                if tagged is None:
                    raise ManifestUnknown(f"tag {reference!r} not found", detail={"tag": reference})
                if only_if is not None and not only_if(conn, repo_id):
                    return False
                recycle_bin.keep_tag(conn, name, reference, tagged[0])
                conn.execute(
                    delete(tags).where(tags.c.repository_id == repo_id, tags.c.name == reference)
                )
                untagging.mark_untagged(conn, repo_id, [tagged[0]], time.time())
                deleted_tag = TagDeleteTarget(name, reference, tagged[0])
                events.append(conn, Event(Action.TAG_DELETE, deleted_tag, request))
                return True
            digest = str(check_digest(reference))
            if only_if is not None and not only_if(conn, repo_id):
                return False
            recycle_bin.keep_manifest(conn, name, repo_id, digest)
            deleted = delete_manifest(conn, repo_id, digest)
            if deleted is None:
                raise ManifestUnknown(f"manifest {digest} not found", detail={"digest": digest})
            media_type, artifact_type = deleted
            action = (
                Action.CHART_DELETE if artifact_type == mediatypes.HELM_CONFIG else Action.DELETE
            )
            target = ManifestDeleteTarget(name, digest, media_type)
            events.append(conn, Event(action, target, request))
        return True


def _refuse_existing_tags(conn: Connection, repo_id: int, name: str, tag_names: list[str]) -> None:
    if not tag_names:
        return
    taken = conn.execute(
        select(tags.c.name).where(tags.c.repository_id == repo_id, tags.c.name.in_(tag_names))
    ).first()
    if taken is not None:
        raise Conflict(
            f"tag {name}:{taken[0]} already exists; import with force to move it",
            detail={"repository": name, "tag": taken[0]},
        )


def _push_events(
    conn: Connection,
    name: str,
    digest: str,
    size: int,
    parsed: ParsedManifest,
    tag_names: list[str],
    request: RequestInfo | None,
) -> None:
    """One push event per tag (one untagged event for a push by digest), as ACR sends them.
    A Helm chart is an OCI artifact like any other, so it fires `push` too (what webhooks on
    `push` expect of `helm push`), followed by `chart_push`."""
    chart = parsed.config_media_type == mediatypes.HELM_CONFIG
    pushed_tags: list[str | None] = list(tag_names) or [None]
    for tag in pushed_tags:
        target = ManifestTarget(name, digest, parsed.media_type, size, tag)
        events.append(conn, Event(Action.PUSH, target, request))
        if chart:
            events.append(conn, Event(Action.CHART_PUSH, target, request))
    if parsed.subject is not None:
        referrer = ManifestTarget(
            name, digest, parsed.media_type, size, subject=str(parsed.subject.digest)
        )
        events.append(conn, Event(Action.REFERRER_PUSH, referrer, request))


def delete_manifest(conn: Connection, repo_id: int, digest: str) -> tuple[str, str | None] | None:
    """Remove a manifest row with its references and the tags on it; returns its media type
    and artifact type, or None when there was no such manifest."""
    row = conn.execute(
        select(manifests.c.media_type, manifests.c.artifact_type).where(
            manifests.c.repository_id == repo_id, manifests.c.digest == digest
        )
    ).first()
    if row is None:
        return None
    conn.execute(
        delete(manifests).where(manifests.c.repository_id == repo_id, manifests.c.digest == digest)
    )
    conn.execute(
        delete(tags).where(tags.c.repository_id == repo_id, tags.c.manifest_digest == digest)
    )
    for table in (manifest_blobs, manifest_children):
        conn.execute(
            delete(table).where(table.c.repository_id == repo_id, table.c.manifest_digest == digest)
        )
    return str(row[0]), row[1]
