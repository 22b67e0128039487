"""`/roles`: role assignments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from dockyard.access.service import AccessError
from dockyard.api.management.deps import Access, Reader, Writer
from dockyard.api.management.models import RoleAssignment

router = APIRouter(tags=["roles"])


@router.get("/roles")
def list_roles(
    _: Reader,
    access: Access,
    principal: Annotated[str | None, Query(description="Only this user's")] = None,
) -> list[RoleAssignment]:
    """Role assignments."""
    return [RoleAssignment(**row) for row in access.list_roles(principal)]


@router.post("/roles", status_code=201)
def assign_role(body: RoleAssignment, caller_: Writer, access: Access) -> RoleAssignment:
    """Give a user a role over the registry ('*'), a repository, or 'prefix/*'."""
    access.assign_role(body.principal, body.role, body.scope, caller_.id)
    return body


@router.delete("/roles", status_code=204)
def remove_role(
    caller_: Writer,
    access: Access,
    body: Annotated[RoleAssignment | None, Body()] = None,
    principal: Annotated[str | None, Query()] = None,
    role: Annotated[str | None, Query()] = None,
    scope: Annotated[str, Query()] = "*",
) -> Response:
    """Remove one role assignment, named in the body or in the query."""
    if body is None:
        if not principal or not role:
            raise AccessError("name the assignment: principal, role and scope")
        body = RoleAssignment(principal=principal, role=role, scope=scope)
    access.remove_role(body.principal, body.role, body.scope, caller_.id)
    return Response(status_code=204)
