"""`/quarantine`: manifests held by the quarantine policy, and a scanner's verdict on them."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query

from dockyard.access.rights import QUARANTINE_READ, QUARANTINE_WRITE
from dockyard.api.management.deps import Access, Caller, RegistryDep, RepositoryRightsDep
from dockyard.registry.quarantine import HeldManifest
from dockyard.wire.quarantine import QuarantinedManifest, State, Verdict

router = APIRouter(tags=["quarantine"])


def _view(held: HeldManifest) -> QuarantinedManifest:
    return QuarantinedManifest(
        repository=held.repository,
        digest=held.digest,
        media_type=held.media_type,
        state=held.state,  # type: ignore[arg-type]
        tags=held.tags,
        created_at=datetime.fromtimestamp(held.created_at, UTC),
    )


@router.get("/quarantine")
def list_quarantine(
    principal: Caller,
    registry: RegistryDep,
    rights: RepositoryRightsDep,
    repository: str | None = Query(default=None),
    state: State | None = Query(default=None),
) -> list[QuarantinedManifest]:
    """Manifests with a quarantine state, oldest first (roles AcrQuarantineReader/Writer,
    Owner, Contributor)."""
    rights.require(principal, repository or "*", QUARANTINE_READ)
    return [_view(m) for m in registry.quarantine.held(repository, state)]


@router.put("/quarantine/{repository:path}/manifests/{digest}")
def set_verdict(
    repository: str,
    digest: str,
    body: Verdict,
    principal: Caller,
    registry: RegistryDep,
    access: Access,
    rights: RepositoryRightsDep,
) -> QuarantinedManifest:
    """A scanner's verdict: `passed` lets everyone with pull rights pull the manifest
    (role AcrQuarantineWriter, Owner, Contributor)."""
    rights.require(principal, repository, QUARANTINE_WRITE)
    held = registry.quarantine.set_state(repository, digest, body.state)
    access.audit.record(
        "quarantine.verdict",
        principal.id,
        "ok",
        repository=repository,
        digest=held.digest,
        state=body.state,
    )
    return _view(held)
