"""`/settings`: registry-wide settings (anonymous pull)."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api.management.deps import Access, Reader, Writer
from dockyard.api.management.models import AnonymousPull

router = APIRouter(tags=["settings"])


@router.get("/settings/anonymous-pull")
def get_anonymous_pull(_: Reader, access: Access) -> AnonymousPull:
    """Whether clients without credentials may pull every repository."""
    return AnonymousPull(enabled=access.anonymous_pull)


@router.put("/settings/anonymous-pull")
def set_anonymous_pull(body: AnonymousPull, principal: Writer, access: Access) -> AnonymousPull:
    """Turn anonymous pull on or off; the Basic tier does not offer it."""
    access.set_anonymous_pull(body.enabled, principal.id)
    return AnonymousPull(enabled=access.anonymous_pull)
