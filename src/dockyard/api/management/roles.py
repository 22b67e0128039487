"""`/roles`: role assignments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from dockyard.api.management.deps import Reader, RolesDep, Writer
from dockyard.api.management.models import RoleAssignment, role_model
from dockyard.errors import Invalid

router = APIRouter(tags=["roles"])


@router.get("/roles")
def list_roles(
    _: Reader,
    roles: RolesDep,
    principal: Annotated[str | None, Query(description="Only this user's")] = None,
) -> list[RoleAssignment]:
    """Role assignments."""
    return [role_model(assignment) for assignment in roles.all(principal)]


@router.post("/roles", status_code=201)
def assign_role(body: RoleAssignment, caller_: Writer, roles: RolesDep) -> RoleAssignment:
    """Give a user a role over the registry ('*'), a repository, or 'prefix/*'."""
    return role_model(roles.assign(body.principal, body.role, body.scope, caller_.id))


@router.delete("/roles", status_code=204)
def remove_role(
    caller_: Writer,
    roles: RolesDep,
    body: Annotated[RoleAssignment | None, Body()] = None,
    principal: Annotated[str | None, Query()] = None,
    role: Annotated[str | None, Query()] = None,
    scope: Annotated[str, Query()] = "*",
) -> Response:
    """Remove one role assignment, named in the body or in the query."""
    if body is None:
        if not principal or not role:
            raise Invalid("name the assignment: principal, role and scope")
        body = RoleAssignment(principal=principal, role=role, scope=scope)
    roles.remove(body.principal, body.role, body.scope, caller_.id)
    return Response(status_code=204)
