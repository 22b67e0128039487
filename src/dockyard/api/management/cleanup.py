"""Cleanup: the recycle bin of soft-deleted manifests and tags (listing and restoring them), and
`/purge` (ACR's `acr purge`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dockyard.api.context import request_info
from dockyard.api.management.deps import Access, Reader, RegistryDep, Writer
from dockyard.registry.purge import PurgeOptions, PurgeReport

router = APIRouter(tags=["cleanup"])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _time(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


class DeletedManifest(_Model):
    digest: str
    media_type: str
    size: int
    tags: list[str] = Field(description="The tags that pointed at it when it was deleted")
    deleted_at: datetime
    expires_at: datetime = Field(description="When it goes for good (with its blobs)")


class DeletedManifests(_Model):
    repository: str
    manifests: list[DeletedManifest]


class DeletedTag(_Model):
    tag: str
    digest: str
    deleted_at: datetime
    expires_at: datetime


class DeletedTags(_Model):
    repository: str
    tags: list[DeletedTag]


class RestoreRequest(_Model):
    digest: str | None = Field(
        default=None,
        description="The manifest; without it, the one most recently deleted with `tag`",
    )
    tag: str | None = Field(
        default=None, description="Restore only this tag (of the manifest's deleted tags)"
    )
    force: bool = Field(default=False, description="Move a tag that now points at another manifest")


class Restored(_Model):
    repository: str
    digest: str
    manifest_restored: bool = Field(description="False when only tags came back")
    tags: list[str] = Field(description="The tags that point at the manifest again")
    moved: list[str] = Field(description="Of those, the ones moved from another manifest")
    skipped: list[str] = Field(
        description="Deleted tags left alone because they point elsewhere now (use force)"
    )


@router.get("/repositories/{name:path}/deleted-manifests")
def list_deleted_manifests(name: str, _: Reader, registry: RegistryDep) -> DeletedManifests:
    """The soft-deleted manifests of a repository (also of a deleted one), newest first."""
    found = registry.soft_delete.deleted_manifests(name)
    return DeletedManifests(
        repository=name,
        manifests=[
            DeletedManifest(
                digest=m.digest,
                media_type=m.media_type,
                size=m.size,
                tags=list(m.tags),
                deleted_at=_time(m.deleted_at),
                expires_at=_time(m.expires_at),
            )
            for m in found
        ],
    )


@router.get("/repositories/{name:path}/deleted-tags")
def list_deleted_tags(
    name: str,
    _: Reader,
    registry: RegistryDep,
    tag: str | None = Query(default=None, description="Only this tag"),
) -> DeletedTags:
    """The soft-deleted tags of a repository: tags deleted on their own and the tags of deleted
    manifests, newest first."""
    found = registry.soft_delete.deleted_tags(name, tag)
    return DeletedTags(
        repository=name,
        tags=[
            DeletedTag(
                tag=t.tag,
                digest=t.digest,
                deleted_at=_time(t.deleted_at),
                expires_at=_time(t.expires_at),
            )
            for t in found
        ],
    )


@router.post(
    "/repositories/{name:path}/restore",
    responses={
        404: {"description": "No such repository or deleted manifest"},
        409: {"description": "A tag to restore points at another manifest now and force is off"},
    },
)
def restore(
    name: str,
    body: RestoreRequest,
    request: Request,
    principal: Writer,
    registry: RegistryDep,
    access: Access,
) -> Restored:
    """Bring back a soft-deleted manifest (same digest, same bytes) with its deleted tags, or
    only `tag`. An index needs its child manifests, a referrer its subject."""
    done = registry.soft_delete.restore(
        name, body.digest, body.tag, body.force, request_info(request)
    )
    access.audit.record("manifest.restore", principal.id, "ok", repository=name, digest=done.digest)
    return Restored(
        repository=name,
        digest=done.digest,
        manifest_restored=done.manifest_restored,
        tags=list(done.tags),
        moved=list(done.moved),
        skipped=list(done.skipped),
    )


class PurgeRequest(_Model):
    filters: list[str] = Field(
        min_length=1,
        description="<repository-regex>:<tag-regex>; the repository expression matches whole "
        "names, the tag expression anywhere in a tag (use ^...$ for whole tags)",
    )
    ago: str = Field(description="Go-style duration with days, e.g. 2d3h6m, 7d, 30m")
    keep: int = Field(default=0, ge=0, description="Keep the newest N matching tags per repository")
    untagged: bool = Field(default=False, description="Also delete manifests left without tags")
    dry_run: bool = Field(default=False, description="Only report what would be deleted")
    include_locked: bool = Field(
        default=False, description="Unlock locked tags and manifests, then delete them"
    )


class PurgedTag(_Model):
    repository: str
    tag: str
    digest: str
    last_update: datetime


class PurgedManifest(_Model):
    repository: str
    digest: str
    media_type: str
    created: datetime


class PurgeSkip(_Model):
    repository: str
    reference: str = Field(description="A tag or digest; empty for the whole repository")
    reason: str


class PurgeResult(_Model):
    dry_run: bool
    repositories: list[str] = Field(description="The repositories the filters matched")
    tags: list[PurgedTag] = Field(description="Deleted (or, dry, to delete)")
    manifests: list[PurgedManifest] = Field(description="Deleted (or, dry, to delete)")
    skipped: list[PurgeSkip] = Field(description="What matched but stays, and why")


def _result(report: PurgeReport) -> PurgeResult:
    return PurgeResult(
        dry_run=report.dry_run,
        repositories=report.repositories,
        tags=[
            PurgedTag(
                repository=t.repository,
                tag=t.tag,
                digest=t.digest,
                last_update=_time(t.last_update),
            )
            for t in report.tags
        ],
        manifests=[
            PurgedManifest(
                repository=m.repository,
                digest=m.digest,
                media_type=m.media_type,
                created=_time(m.created),
            )
            for m in report.manifests
        ],
        skipped=[
            PurgeSkip(repository=s.repository, reference=s.reference, reason=s.reason)
            for s in report.skipped
        ],
    )


@router.post("/purge")
def purge(
    body: PurgeRequest, request: Request, principal: Writer, registry: RegistryDep, access: Access
) -> PurgeResult:
    """Delete the tags that match the filters and were last updated before `ago` (keeping the
    newest `keep` per repository), and with `untagged` the manifests left without tags, with
    ACR's rules: an index's children and a present subject's referrers stay, locked items stay
    unless `include_locked`. Deletions go through the registry's delete, so events, locks and
    soft delete apply. A bad expression or duration is a 400."""
    options = PurgeOptions(
        filters=tuple(body.filters),
        ago=body.ago,
        keep=body.keep,
        untagged=body.untagged,
        dry_run=body.dry_run,
        include_locked=body.include_locked,
    )
    report = registry.purge.run(options, request_info(request))
    if not body.dry_run:
        access.audit.record(
            "purge",
            principal.id,
            "ok",
            filters=" ".join(body.filters),
            tags=str(len(report.tags)),
            manifests=str(len(report.manifests)),
        )
    return _result(report)
