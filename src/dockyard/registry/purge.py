"""`acr purge`: delete the tags that match a filter and were last updated before a moment, and
with `untagged` the manifests left without tags, following ACR's rules:

- a filter is `<repository-regex>:<tag-regex>`; the repository expression must match the whole
  name, the tag expression anywhere in the tag; several filters add up;
- a tag goes when its last update is older than `ago`; `keep` spares the newest N of the tags
  that would go, per repository;
- `untagged` also deletes untagged manifests pushed before `ago`, but never one that an index
  still lists or a referrer whose subject stays; an index that goes frees its children and a
  subject that goes takes its referrers along (ACR removes referrers with their subject);
- locked items (deleteEnabled or writeEnabled false) stay, unless `include_locked`, which
  unlocks them first; a repository that is locked for writing, or whose tags are write-once,
  keeps its tags (and manifests);
- `dry_run` reports what would go and changes nothing.

Every deletion goes through ManifestService.delete, so locks, events and soft delete apply,
with a guard that checks in the deleting transaction that the item is still what the plan saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, select, true, update

from dockyard.errors import DockyardError, Unsupported
from dockyard.events import RequestInfo
from dockyard.registry.locks import tags_are_immutable, undeletable
from dockyard.registry.manifests import DeleteGuard, ManifestService
from dockyard.registry.untagging import unneeded_untagged
from dockyard.spec.purge import PurgeArgumentError, PurgeFilter, parse_ago, parse_filter
from dockyard.storage.db.database import Database, sort_key
from dockyard.storage.db.schema import manifest_children, manifests, repositories, tags


@dataclass(frozen=True, slots=True)
class PurgeOptions:
    filters: tuple[str, ...]
    ago: str
    keep: int = 0
    untagged: bool = False
    dry_run: bool = False
    include_locked: bool = False


@dataclass(frozen=True, slots=True)
class PurgedTag:
    repository: str
    tag: str
    digest: str
    last_update: float


@dataclass(frozen=True, slots=True)
class PurgedManifest:
    repository: str
    digest: str
    media_type: str
    created: float


@dataclass(frozen=True, slots=True)
class Skipped:
    repository: str
    reference: str  # a tag, a digest, or '' for the whole repository
    reason: str


@dataclass
class PurgeReport:
    dry_run: bool
    repositories: list[str] = field(default_factory=list)  # those the filters matched
    tags: list[PurgedTag] = field(default_factory=list)
    manifests: list[PurgedManifest] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Tag:
    name: str
    digest: str
    updated_at: float
    locked: bool


@dataclass(frozen=True, slots=True)
class _Manifest:
    digest: str
    media_type: str
    created_at: float
    subject: str | None
    locked: bool


@dataclass
class _Snapshot:
    repo_id: int
    writable: bool
    immutable_tags: bool
    tags: list[_Tag]
    manifests: dict[str, _Manifest]
    children: dict[str, set[str]]  # index -> the manifests it lists


def parse_options(options: PurgeOptions) -> tuple[list[PurgeFilter], float]:
    """The filters and `ago` in seconds; a bad one is a 400 that says what is wrong."""
    if not options.filters:
        raise Unsupported("give at least one filter <repository-regex>:<tag-regex>")
    if options.keep < 0:
        raise Unsupported(f"keep must be 0 or more, not {options.keep}")
    try:
        return [parse_filter(f) for f in options.filters], parse_ago(options.ago)
    except PurgeArgumentError as exc:
        raise Unsupported(str(exc), detail={"filters": list(options.filters)}) from exc


class PurgeService:
    def __init__(self, db: Database, manifests_service: ManifestService) -> None:
        self._db = db
        self._manifests = manifests_service

    def run(self, options: PurgeOptions, request: RequestInfo | None = None) -> PurgeReport:
        filters, ago = parse_options(options)
        cutoff = time.time() - ago
        report = PurgeReport(options.dry_run)
        with self._db.read() as conn:
            names = [
                str(r[0])
                for r in conn.execute(
                    select(repositories.c.name).order_by(sort_key(conn, repositories.c.name))
                )
            ]
        for name in names:
            matching = [f for f in filters if f.matches_repository(name)]
            if matching:
                report.repositories.append(name)
                _RepositoryPurge(self, name, matching, cutoff, options, request, report).run()
        return report


class _RepositoryPurge:
    """The purge of one repository: its tags, then (with `untagged`) its untagged manifests."""

    def __init__(
        self,
        service: PurgeService,
        name: str,
        filters: list[PurgeFilter],
        cutoff: float,
        options: PurgeOptions,
        request: RequestInfo | None,
        report: PurgeReport,
    ) -> None:
        self._db = service._db
        self._manifests = service._manifests
        self.name = name
        self.filters = filters
        self.cutoff = cutoff
        self.options = options
        self.request = request
        self.report = report

    def run(self) -> None:
        snapshot = self._snapshot()
        if snapshot is None:
            return  # deleted meanwhile
        if not snapshot.writable:
            self._skip("", "the repository is locked (writeEnabled=false)")
            return
        gone_tags = self._purge_tags(snapshot)
        if not self.options.untagged:
            return
        if not self.options.dry_run:
            fresh = self._snapshot()
            if fresh is None:
                return
            snapshot, gone_tags = fresh, set()
        self._purge_untagged(snapshot, gone_tags)

    def _skip(self, reference: str, reason: str) -> None:
        self.report.skipped.append(Skipped(self.name, reference, reason))

    def _snapshot(self) -> _Snapshot | None:
        with self._db.read() as conn:
            repo = conn.execute(
                select(
                    repositories.c.id, repositories.c.write_enabled, repositories.c.tag_immutability
                ).where(repositories.c.name == self.name)
            ).first()
            if repo is None:
                return None
            repo_id = int(repo.id)
            tag_rows = conn.execute(
                select(
                    tags.c.name,
                    tags.c.manifest_digest,
                    tags.c.updated_at,
                    undeletable(tags).label("locked"),
                ).where(tags.c.repository_id == repo_id)
            ).all()
            manifest_rows = conn.execute(
                select(
                    manifests.c.digest,
                    manifests.c.media_type,
                    manifests.c.created_at,
                    manifests.c.subject_digest,
                    undeletable(manifests).label("locked"),
                ).where(manifests.c.repository_id == repo_id)
            ).all()
            edges = conn.execute(
                select(manifest_children.c.manifest_digest, manifest_children.c.child_digest).where(
                    manifest_children.c.repository_id == repo_id
                )
            ).all()
            immutable = tags_are_immutable(conn, bool(repo.tag_immutability))
        children: dict[str, set[str]] = {}
        for index, child in edges:
            children.setdefault(str(index), set()).add(str(child))
        return _Snapshot(
            repo_id=repo_id,
            writable=bool(repo.write_enabled),
            immutable_tags=immutable,
            tags=[
                _Tag(str(r.name), str(r.manifest_digest), float(r.updated_at), bool(r.locked))
                for r in tag_rows
            ],
            manifests={
                str(r.digest): _Manifest(
                    str(r.digest),
                    str(r.media_type),
                    float(r.created_at),
                    r.subject_digest,
                    bool(r.locked),
                )
                for r in manifest_rows
            },
            children=children,
        )

    # --- tags ----------------------------------------------------------------------------------

    def _purge_tags(self, snapshot: _Snapshot) -> set[str]:
        """Delete (or, dry, pick) the tags to go; returns the names that went."""
        due = [
            t
            for t in snapshot.tags
            if t.updated_at < self.cutoff and any(f.matches_tag(t.name) for f in self.filters)
        ]
        if due and snapshot.immutable_tags:
            self._skip("", f"its tags are write-once; {len(due)} matching tags stay")
            return set()
        eligible: list[_Tag] = []
        for tag in due:
            if tag.locked and not self.options.include_locked:
                self._skip(tag.name, "the tag is locked (deleteEnabled or writeEnabled false)")
            else:
                eligible.append(tag)
        # The newest go last: `keep` spares the first N, newest first, as ACR counts them.
        eligible.sort(key=lambda t: (-t.updated_at, t.name))
        gone: set[str] = set()
        for tag in eligible[self.options.keep :]:
            if self.options.dry_run or self._delete_tag(snapshot.repo_id, tag):
                gone.add(tag.name)
                self.report.tags.append(PurgedTag(self.name, tag.name, tag.digest, tag.updated_at))
        return gone

    def _delete_tag(self, repo_id: int, tag: _Tag) -> bool:
        if tag.locked:
            self._unlock(
                tags,
                (tags.c.repository_id == repo_id) & (tags.c.name == tag.name),
            )

        def unchanged(conn: Connection, found_repo: int) -> bool:
            row = conn.execute(
                select(tags.c.name)
                .where(
                    tags.c.repository_id == found_repo,
                    tags.c.name == tag.name,
                    tags.c.manifest_digest == tag.digest,
                    tags.c.updated_at < self.cutoff,
                )
                .with_for_update()
            ).first()
            return row is not None

        return self._delete(tag.name, unchanged)

    # --- untagged manifests ------------------------------------------------------------------

    def _purge_untagged(self, snapshot: _Snapshot, gone_tags: set[str]) -> None:
        tagged = {t.digest for t in snapshot.tags if t.name not in gone_tags}
        remaining = dict(snapshot.manifests)
        gone: set[str] = set()
        refused: set[str] = set()
        while True:
            listed = {
                child
                for index, kids in snapshot.children.items()
                if index in remaining
                for child in kids
            }
            round_: list[tuple[_Manifest, bool]] = []
            for manifest in remaining.values():
                if manifest.digest in tagged or manifest.digest in listed:
                    continue
                if manifest.digest in refused:
                    continue
                if manifest.subject is not None and manifest.subject in remaining:
                    continue  # a referrer goes with its subject, not before
                cascade = manifest.subject is not None and manifest.subject in gone
                if manifest.created_at >= self.cutoff and not cascade:
                    continue
                if manifest.locked and not self.options.include_locked:
                    refused.add(manifest.digest)
                    self._skip(
                        manifest.digest,
                        "the manifest is locked (deleteEnabled or writeEnabled false)",
                    )
                    continue
                round_.append((manifest, cascade))
            if not round_:
                return
            for manifest, cascade in sorted(round_, key=lambda m: m[0].digest):
                if self.options.dry_run or self._delete_manifest(
                    snapshot.repo_id, manifest, cascade
                ):
                    gone.add(manifest.digest)
                    del remaining[manifest.digest]
                    self.report.manifests.append(
                        PurgedManifest(
                            self.name, manifest.digest, manifest.media_type, manifest.created_at
                        )
                    )
                else:
                    refused.add(manifest.digest)

    def _delete_manifest(self, repo_id: int, manifest: _Manifest, cascade: bool) -> bool:
        if manifest.locked:
            self._unlock(
                manifests,
                (manifests.c.repository_id == repo_id) & (manifests.c.digest == manifest.digest),
            )

        def still_unneeded(conn: Connection, found_repo: int) -> bool:
            old_enough = true() if cascade else manifests.c.created_at < self.cutoff
            row = conn.execute(
                select(manifests.c.digest)
                .where(
                    manifests.c.repository_id == found_repo,
                    manifests.c.digest == manifest.digest,
                    unneeded_untagged(),
                    old_enough,
                )
                .with_for_update()
            ).first()
            return row is not None

        return self._delete(manifest.digest, still_unneeded)

    # --- both ----------------------------------------------------------------------------------

    def _unlock(self, table: object, where: object) -> None:
        """`include_locked`: open the item's deleteEnabled and writeEnabled, as ACR does first."""
        with self._db.write() as conn:
            conn.execute(
                update(table)  # type: ignore[arg-type]
                .where(where)  # type: ignore[arg-type]
                .values(delete_enabled=True, write_enabled=True)
            )

    def _delete(self, reference: str, guard: DeleteGuard) -> bool:
        try:
            if self._manifests.delete(self.name, reference, self.request, guard):
                return True
            self._skip(reference, "it changed while the purge ran")
        except DockyardError as exc:
            self._skip(reference, exc.message)
        return False
