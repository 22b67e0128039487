"""Import: a server-side copy of an image (or any artifact) from another registry.

`prepare` checks everything that can be checked before copying (the source reference, the
targets, that no target tag would be moved without `force`, that the source is an address
the server may reach, and that the source has the manifest) so that those refusals are plain
error answers. `run` then walks the source's graph: every manifest of an index (children
first) and the referrers of every manifest, via the source's referrers API or its
referrers tag. It copies the blobs, streaming each one through the ordinary upload path
(digest verified, never held whole in memory), mounts those this registry already stores,
and skips foreign layers. Only then does it store the manifests, byte for byte, through
ManifestService.put (so every check and event applies), the tagged one last: a source that
fails midway leaves only untagged content behind, which garbage collection reclaims. A target
repository the import created and left holding nothing but the import's own blob links is
removed again when the import fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, exists, select

from dockyard.errors import Conflict, ManifestInvalid, SizeInvalid, Unsupported
from dockyard.events import RequestInfo
from dockyard.netguard import Resolver, guard_for, resolve
from dockyard.registry.blobs import BlobService
from dockyard.registry.manifests import ManifestService
from dockyard.registry.names import check_name, check_tag
from dockyard.registry.remote import (
    RemoteManifest,
    RemoteRegistry,
    SourceReference,
    SourceUnavailable,
    parse_source,
)
from dockyard.registry.uploads import UploadService
from dockyard.spec.digest import Digest
from dockyard.spec.manifest import (
    ManifestError,
    ParsedManifest,
    UnsupportedManifest,
    parse_manifest,
)
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import (
    manifests,
    repositories,
    repository_blobs,
    tags,
    upload_sessions,
)

log = logging.getLogger("dockyard.registry")

# An import holds its manifests in memory until the blobs are in; these bound that.
MAX_MANIFESTS = 10_000
MAX_MANIFEST_BYTES_TOTAL = 64 * 1024 * 1024
PROGRESS_INTERVAL_SECONDS = 0.25

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImportTarget:
    repository: str
    tag: str | None  # None: stored by digest only

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else self.repository


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A source manifest: its exact bytes, and what they reference."""

    manifest: RemoteManifest
    parsed: ParsedManifest

    @property
    def digest(self) -> str:
        return self.manifest.digest


@dataclass(slots=True)
class PreparedImport:
    """An import whose checks passed, holding the open client and the source's manifest."""

    source: SourceReference
    remote: RemoteRegistry
    root: FetchedManifest
    targets: tuple[ImportTarget, ...]
    force: bool
    request: RequestInfo | None

    @property
    def repositories(self) -> list[str]:
        return list(dict.fromkeys(t.repository for t in self.targets))

    def tags_of(self, repository: str) -> list[str]:
        return [t.tag for t in self.targets if t.repository == repository and t.tag]

    def close(self) -> None:
        self.remote.close()


@dataclass(frozen=True, slots=True)
class _BlobRef:
    digest: str
    size: int
    foreign: bool


@dataclass(slots=True)
class _Plan:
    """What to copy: blobs in first-seen order, and manifests in the order they are stored
    (each index after its children; the imported manifest last)."""

    blobs: dict[str, _BlobRef] = field(default_factory=dict)
    manifests: list[FetchedManifest] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    held_bytes: int = 0


@dataclass(slots=True)
class _Counts:
    manifests: int = 0
    blobs_copied: int = 0
    blobs_present: int = 0
    blobs_foreign: int = 0
    bytes_copied: int = 0
    bytes_present: int = 0


def parse_targets(images: Sequence[str], source: SourceReference) -> tuple[ImportTarget, ...]:
    """`repository[:tag]` each; without a tag the source's tag (none for a source named by
    digest alone); no images at all means the source's repository and tag."""
    if not images:
        images = [source.repository]
    found: list[ImportTarget] = []
    for image in images:
        text = image.strip()
        if "@" in text:
            raise Unsupported(
                f"target {image!r}: name a repository and tag; the digest is the source's"
            )
        repository, tag = text, source.tag
        last = text.rsplit("/", 1)[-1]
        if ":" in last:
            repository, tag = text.rsplit(":", 1)
            check_tag(tag)
        check_name(repository)
        target = ImportTarget(repository, tag)
        if target not in found:
            found.append(target)
    return tuple(found)


class ImportService:
    def __init__(
        self,
        db: Database,
        blobs: BlobService,
        uploads: UploadService,
        manifests: ManifestService,
        allow_private_sources: bool = False,
        resolver: Resolver = resolve,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._uploads = uploads
        self._manifests = manifests
        self._guard = guard_for("import_allow_private_sources", allow_private_sources, resolver)

    # --- before the copy --------------------------------------------------------------------

    def prepare(
        self,
        source_text: str,
        images: Sequence[str],
        credentials: tuple[str, str] | None = None,
        force: bool = False,
        request: RequestInfo | None = None,
    ) -> PreparedImport:
        """Check the import and fetch the source's manifest; raises the refusal otherwise.
        The caller closes the answer (`run` does when it finishes)."""
        source = parse_source(source_text)
        targets = parse_targets(images, source)
        if not force:
            self._refuse_existing_tags(targets)
        remote = RemoteRegistry(source, credentials, self._guard)
        try:
            root = _fetched(remote.manifest(source.reference, self._manifests.max_bytes))
        except BaseException:
            remote.close()
            raise
        return PreparedImport(source, remote, root, targets, force, request)

    def _refuse_existing_tags(self, targets: Sequence[ImportTarget]) -> None:
        with self._db.read() as conn:
            for target in targets:
                if target.tag is None:
                    continue
                row = conn.execute(
                    select(tags.c.manifest_digest)
                    .select_from(tags.join(repositories, repositories.c.id == tags.c.repository_id))
                    .where(repositories.c.name == target.repository, tags.c.name == target.tag)
                ).first()
                if row is not None:
                    raise tag_exists(target.repository, target.tag)

    # --- the copy ---------------------------------------------------------------------------

    def run(self, job: PreparedImport) -> Iterator[Event]:
        """Copy, reporting progress as it goes; the last event is the result. Raises (a
        DockyardError, usually) when the import fails; closing the iterator early stops it,
        and nothing is tagged unless the whole import is in. A failed import removes the target
        repositories it created, unless they got other content meanwhile."""
        created = self._absent(job.repositories)
        plan = _Plan()
        finished = False
        try:
            root = job.root
            yield {
                "event": "started",
                "source": str(job.source),
                "digest": root.digest,
                "media_type": root.parsed.media_type,
                "targets": [str(t) for t in job.targets],
            }
            yield from self._discover(job, plan)
            total = sum(b.size for b in plan.blobs.values() if not b.foreign)
            yield {
                "event": "plan",
                "manifests": len(plan.manifests),
                "blobs": len(plan.blobs),
                "bytes": total,
            }
            counts = _Counts()
            for blob in plan.blobs.values():
                yield from self._copy_blob(job, blob, counts)
            for repository in job.repositories:
                yield from self._store_manifests(job, repository, plan, counts)
            result = self._result(job, plan, counts)
            finished = True  # a client that leaves after the last line changes nothing
            yield result
        finally:
            try:
                if not finished and created:
                    self._remove_left_empty(created, set(plan.blobs))
            except Exception:  # the import's own failure is the one to answer
                log.exception("removing the repositories of a failed import failed")
            finally:
                job.close()

    def _absent(self, names: Sequence[str]) -> list[str]:
        with self._db.read() as conn:
            return [
                name
                for name in names
                if conn.execute(
                    select(repositories.c.id).where(repositories.c.name == name)
                ).first()
                is None
            ]

    def _remove_left_empty(self, names: Sequence[str], imported_blobs: set[str]) -> None:
        """Remove the repositories a failed import created that hold nothing but links to
        blobs of the import: no manifest, no tag, no upload going on, no other blob."""
        with self._db.write() as conn:
            for name in names:
                row = conn.execute(
                    select(
                        repositories.c.id,
                        repositories.c.delete_enabled,
                        repositories.c.write_enabled,
                        repositories.c.read_enabled,
                        repositories.c.list_enabled,
                        repositories.c.tag_immutability,
                    )
                    .where(repositories.c.name == name)
                    .with_for_update()
                ).first()
                # Attributes someone set meanwhile are content of their own: it stays.
                if row is None or not all(row[1:5]) or row[5]:
                    continue
                repo_id = int(row[0])
                linked = {
                    str(r[0])
                    for r in conn.execute(
                        select(repository_blobs.c.digest).where(
                            repository_blobs.c.repository_id == repo_id
                        )
                    )
                }
                in_use = conn.execute(
                    select(
                        exists().where(manifests.c.repository_id == repo_id)
                        | exists().where(tags.c.repository_id == repo_id)
                        | exists().where(upload_sessions.c.repository == name)
                    )
                ).scalar()
                if in_use or not linked <= imported_blobs:
                    continue
                conn.execute(
                    delete(repository_blobs).where(repository_blobs.c.repository_id == repo_id)
                )
                conn.execute(delete(repositories).where(repositories.c.id == repo_id))

    def _discover(self, job: PreparedImport, plan: _Plan) -> Iterator[Event]:
        """Fill the plan: children before their index, each manifest's referrers after it,
        and the imported manifest after its own referrers, last of all."""
        root = job.root
        plan.seen.add(root.digest)
        yield from self._children_of(job, root, plan)
        yield from self._referrers_of(job, root.digest, plan)
        self._hold(plan, root)

    def _visit(
        self, job: PreparedImport, digest: str, plan: _Plan, referrer: bool = False
    ) -> Iterator[Event]:
        if digest in plan.seen:
            return
        plan.seen.add(digest)
        if len(plan.seen) > MAX_MANIFESTS:
            raise Unsupported(f"the source's graph has more than {MAX_MANIFESTS} manifests")
        manifest = job.remote.manifest(digest, self._manifests.max_bytes)
        try:
            found = _fetched(manifest)
        except (Unsupported, ManifestInvalid) as exc:
            if not referrer:
                raise
            # A referrer of a kind this registry cannot store does not spoil the image.
            yield {
                "event": "manifest",
                "status": "skipped",
                "digest": digest,
                "reason": exc.message,
            }
            return
        yield {
            "event": "manifest",
            "status": "found",
            "digest": found.digest,
            "media_type": found.parsed.media_type,
            "size": len(manifest.body),
        }
        yield from self._children_of(job, found, plan)
        self._hold(plan, found)
        yield from self._referrers_of(job, found.digest, plan)

    def _children_of(
        self, job: PreparedImport, found: FetchedManifest, plan: _Plan
    ) -> Iterator[Event]:
        for child in found.parsed.children:
            yield from self._visit(job, str(child.digest), plan)
        for blob in found.parsed.blobs:
            text = str(blob.digest)
            if text not in plan.blobs:
                plan.blobs[text] = _BlobRef(text, blob.size, blob.is_foreign)

    def _referrers_of(self, job: PreparedImport, digest: str, plan: _Plan) -> Iterator[Event]:
        for referrer in job.remote.referrers(digest, self._manifests.max_bytes):
            yield from self._visit(job, referrer, plan, referrer=True)

    @staticmethod
    def _hold(plan: _Plan, found: FetchedManifest) -> None:
        plan.held_bytes += len(found.manifest.body)
        if plan.held_bytes > MAX_MANIFEST_BYTES_TOTAL:
            raise Unsupported(
                f"the source's manifests exceed {MAX_MANIFEST_BYTES_TOTAL} bytes in all"
            )
        plan.manifests.append(found)

    def _copy_blob(self, job: PreparedImport, blob: _BlobRef, counts: _Counts) -> Iterator[Event]:
        first, *others = job.repositories
        event: Event = {"event": "blob", "digest": blob.digest, "size": blob.size}
        if blob.foreign:
            counts.blobs_foreign += 1
            yield {**event, "status": "skipped", "reason": "foreign"}
            return
        digest = Digest.parse(blob.digest)
        if self._blobs.exists_anywhere(digest) and self._blobs.mount(first, digest, None):
            counts.blobs_present += 1
            counts.bytes_present += blob.size
            yield {**event, "status": "skipped", "reason": "present"}
        else:
            yield {**event, "status": "started"}
            copied = 0
            for copied in self._fetch_blob(job, first, blob, digest):
                yield {**event, "status": "progress", "bytes": copied}
            counts.blobs_copied += 1
            counts.bytes_copied += blob.size
            yield {**event, "status": "done", "bytes": blob.size}
        for repository in others:
            if not self._blobs.mount(repository, digest, first):
                raise SourceUnavailable(f"blob {blob.digest} vanished while it was imported")

    def _fetch_blob(
        self, job: PreparedImport, repository: str, blob: _BlobRef, digest: Digest
    ) -> Iterator[int]:
        """Stream the blob into storage, yielding the byte count now and then."""
        self._uploads.ensure_room(None, blob.size)
        upload_id, chunk = self._uploads.open_stream(repository, digest)
        try:
            last_report = time.monotonic()
            with job.remote.blob(blob.digest) as stream:
                for data in stream:
                    if chunk.written + len(data) > blob.size:
                        raise SizeInvalid(
                            f"the source sent more than the {blob.size} bytes of blob {digest}",
                            detail={"digest": blob.digest},
                        )
                    chunk.write(data)
                    now = time.monotonic()
                    if now - last_report >= PROGRESS_INTERVAL_SECONDS:
                        last_report = now
                        yield chunk.written
            if chunk.written != blob.size:
                raise SourceUnavailable(
                    f"the source sent {chunk.written} of the {blob.size} bytes of blob {digest}",
                    detail={"digest": blob.digest},
                )
            self._uploads.commit_stream(repository, upload_id, chunk, digest)
        except BaseException:
            self._uploads.discard_stream(upload_id, chunk)
            raise

    def _store_manifests(
        self, job: PreparedImport, repository: str, plan: _Plan, counts: _Counts
    ) -> Iterator[Event]:
        for found in plan.manifests:
            tag_names = job.tags_of(repository) if found.digest == job.root.digest else []
            manifest, media_type = found.manifest, found.parsed.media_type
            pushed = self._manifests.put(
                repository,
                tag_names[0] if tag_names else manifest.digest,
                manifest.body,
                media_type,
                tag_names[1:],
                job.request,
                overwrite_tags=job.force,
            )
            counts.manifests += 1
            yield {
                "event": "manifest",
                "status": "stored",
                "repository": repository,
                "digest": pushed.digest,
                "media_type": media_type,
                "size": len(manifest.body),
                "tags": list(pushed.tags),
            }

    @staticmethod
    def _result(job: PreparedImport, plan: _Plan, counts: _Counts) -> Event:
        return {
            "event": "result",
            "status": "succeeded",
            "source": str(job.source),
            "digest": job.root.digest,
            "media_type": job.root.parsed.media_type,
            "repositories": job.repositories,
            "tags": [str(t) for t in job.targets if t.tag],
            "manifests": len(plan.manifests),
            "manifests_stored": counts.manifests,
            "blobs": {
                "copied": counts.blobs_copied,
                "present": counts.blobs_present,
                "foreign": counts.blobs_foreign,
            },
            "bytes": {"copied": counts.bytes_copied, "present": counts.bytes_present},
        }


def tag_exists(repository: str, tag: str) -> Conflict:
    return Conflict(
        f"tag {repository}:{tag} already exists; import with force to move it",
        detail={"repository": repository, "tag": tag},
    )


def _fetched(manifest: RemoteManifest) -> FetchedManifest:
    try:
        return FetchedManifest(manifest, parse_manifest(manifest.body, manifest.media_type or None))
    except UnsupportedManifest as exc:
        raise Unsupported(f"the source's manifest {manifest.digest}: {exc}") from exc
    except ManifestError as exc:
        raise ManifestInvalid(f"the source's manifest {manifest.digest}: {exc}") from exc
