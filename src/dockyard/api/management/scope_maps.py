"""`/scope-maps`: which actions on which repositories a token gets."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.access.service import AccessService
from dockyard.api.management.deps import Access, Reader, Writer
from dockyard.api.management.models import ScopeMap, ScopeMapCreate, ScopeMapUpdate, named

router = APIRouter(tags=["scope maps"])


def _scope_map(access: AccessService, name: str) -> ScopeMap:
    return ScopeMap(**named(access.list_scope_maps(), "scope map", name))


@router.get("/scope-maps")
def list_scope_maps(_: Reader, access: Access) -> list[ScopeMap]:
    """Scope maps, the system ones (`_repositories_*`) first."""
    return [ScopeMap(**row) for row in access.list_scope_maps()]


@router.post("/scope-maps", status_code=201)
def create_scope_map(body: ScopeMapCreate, principal: Writer, access: Access) -> ScopeMap:
    access.create_scope_map(body.name, body.actions, body.description, principal.id)
    return _scope_map(access, body.name)


@router.get("/scope-maps/{name}")
def get_scope_map(name: str, _: Reader, access: Access) -> ScopeMap:
    return _scope_map(access, name)


@router.patch("/scope-maps/{name}")
def update_scope_map(
    name: str, body: ScopeMapUpdate, principal: Writer, access: Access
) -> ScopeMap:
    """Add and remove actions, or change the description; tokens follow at once."""
    access.update_scope_map(name, body.add, body.remove, body.description, principal.id)
    return _scope_map(access, name)


@router.delete("/scope-maps/{name}", status_code=204)
def delete_scope_map(name: str, principal: Writer, access: Access) -> Response:
    """Delete a scope map no token uses."""
    access.delete_scope_map(name, principal.id)
    return Response(status_code=204)
