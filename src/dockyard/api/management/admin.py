"""`/admin`: the admin user, on or off, and its two passwords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from dockyard.api.management.deps import AdminDep, Reader, Writer
from dockyard.api.management.models import AdminCredentials, AdminStatus, admin_secret

router = APIRouter(tags=["admin user"])


@router.get("/admin")
def get_admin(_: Reader, admin: AdminDep) -> AdminStatus:
    """Whether the admin user is on, and its name."""
    return AdminStatus(enabled=admin.enabled, username=admin.username)


@router.post("/admin/enable")
def enable_admin(principal: Writer, admin: AdminDep) -> AdminCredentials:
    """Turn the admin user on; the first time, this creates (and returns) its passwords."""
    created = admin.enable(True, principal.id)
    return AdminCredentials(
        enabled=True,
        username=admin.username,
        passwords=[admin_secret(secret) for secret in created],
    )


@router.post("/admin/disable")
def disable_admin(principal: Writer, admin: AdminDep) -> AdminStatus:
    """Turn the admin user off (its passwords stop working, and are kept)."""
    admin.enable(False, principal.id)
    return AdminStatus(enabled=False, username=admin.username)


@router.post("/admin/credentials/{slot}/regenerate")
def regenerate_admin_password(
    slot: Annotated[int, PathParam(ge=1, le=2, description="1 (password) or 2 (password2)")],
    principal: Writer,
    admin: AdminDep,
) -> AdminCredentials:
    """Replace one of the admin user's two passwords."""
    secret = admin.regenerate_password(slot, principal.id)
    return AdminCredentials(
        enabled=admin.enabled, username=admin.username, passwords=[admin_secret(secret)]
    )
