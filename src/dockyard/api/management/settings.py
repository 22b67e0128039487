"""`/settings`: registry-wide settings (anonymous pull)."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api.management.deps import AnonymousPullDep, Reader, Writer
from dockyard.api.management.models import AnonymousPull

router = APIRouter(tags=["settings"])


@router.get("/settings/anonymous-pull")
def get_anonymous_pull(_: Reader, anonymous_pull: AnonymousPullDep) -> AnonymousPull:
    """Whether clients without credentials may pull every repository."""
    return AnonymousPull(enabled=anonymous_pull.enabled)


@router.put("/settings/anonymous-pull")
def set_anonymous_pull(
    body: AnonymousPull, principal: Writer, anonymous_pull: AnonymousPullDep
) -> AnonymousPull:
    """Turn anonymous pull on or off; the Basic tier does not offer it."""
    anonymous_pull.set(body.enabled, principal.id)
    return AnonymousPull(enabled=anonymous_pull.enabled)
