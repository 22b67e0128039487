"""`/admin`: the admin user, on or off, and its two passwords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from dockyard.api.management.deps import Access, Reader, Writer
from dockyard.api.management.models import (
    AdminCredentials,
    AdminStatus,
    Secret,
    admin_password_name,
)

router = APIRouter(tags=["admin user"])


@router.get("/admin")
def get_admin(_: Reader, access: Access) -> AdminStatus:
    """Whether the admin user is on, and its name."""
    return AdminStatus(enabled=access.admin_enabled, username=access.admin_username)


@router.post("/admin/enable")
def enable_admin(principal: Writer, access: Access) -> AdminCredentials:
    """Turn the admin user on; the first time, this creates (and returns) its passwords."""
    created = access.enable_admin(True, principal.id)
    return AdminCredentials(
        enabled=True,
        username=access.admin_username,
        passwords=[
            Secret(name=admin_password_name(int(key.removeprefix("password"))), value=v)
            for key, v in sorted(created.items())
        ],
    )


@router.post("/admin/disable")
def disable_admin(principal: Writer, access: Access) -> AdminStatus:
    """Turn the admin user off (its passwords stop working, and are kept)."""
    access.enable_admin(False, principal.id)
    return AdminStatus(enabled=False, username=access.admin_username)


@router.post("/admin/credentials/{slot}/regenerate")
def regenerate_admin_password(
    slot: Annotated[int, PathParam(ge=1, le=2, description="1 (password) or 2 (password2)")],
    principal: Writer,
    access: Access,
) -> AdminCredentials:
    """Replace one of the admin user's two passwords."""
    password = access.regenerate_admin_password(slot, principal.id)
    return AdminCredentials(
        enabled=access.admin_enabled,
        username=access.admin_username,
        passwords=[Secret(name=admin_password_name(slot), value=password)],
    )
