"""Cleanup: the recycle bin of soft-deleted manifests and tags (listing and restoring them), and
`/purge` (ACR's `acr purge`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request

from dockyard.api.context import request_info
from dockyard.api.management.deps import Access, Reader, RegistryDep, Writer
from dockyard.registry.purge import PurgeOptions, PurgeReport
from dockyard.wire.purge import (
    PurgedManifest,
    PurgedTag,
    PurgeRequest,
    PurgeResult,
    PurgeSkip,
)
from dockyard.wire.recycle_bin import (
    DeletedManifest,
    DeletedManifests,
    DeletedTag,
    DeletedTags,
    Restored,
    RestoreRequest,
)

router = APIRouter(tags=["cleanup"])


def _time(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


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
