"""`/audit` and `/keys`: the audit log, and the keys that sign tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dockyard.api.management.deps import Access, Auth, Reader, Writer
from dockyard.api.management.models import RotatedKey

MAX_AUDIT_ENTRIES = 10000

audit_router = APIRouter(tags=["audit"])
keys_router = APIRouter(tags=["keys"])


@audit_router.get("/audit")
def read_audit(
    _: Reader,
    access: Access,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_ENTRIES)] = 100,
) -> list[dict[str, Any]]:
    """The newest entries of the audit log, oldest first."""
    return access.audit.read(limit)


@keys_router.post("/keys/rotate")
def rotate_keys(principal: Writer, auth: Auth) -> RotatedKey:
    """Sign new tokens with a new key; tokens signed before keep working until they expire."""
    kid = auth.signer.rotate()
    auth.access.audit.record("keys.rotate", principal.id, "ok", kid=kid)
    return RotatedKey(kid=kid)
