"""`/scope-maps`: which actions on which repositories a token gets."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api.management.deps import Reader, ScopeMapsDep, Writer
from dockyard.api.management.models import (
    ScopeMap,
    ScopeMapCreate,
    ScopeMapUpdate,
    scope_map_model,
)

router = APIRouter(tags=["scope maps"])


@router.get("/scope-maps")
def list_scope_maps(_: Reader, scope_maps: ScopeMapsDep) -> list[ScopeMap]:
    """Scope maps, the system ones (`_repositories_*`) first."""
    return [scope_map_model(scope_map) for scope_map in scope_maps.all()]


@router.post("/scope-maps", status_code=201)
def create_scope_map(body: ScopeMapCreate, principal: Writer, scope_maps: ScopeMapsDep) -> ScopeMap:
    created = scope_maps.create(body.name, body.actions, body.description, principal.id)
    return scope_map_model(created)


@router.get("/scope-maps/{name}")
def get_scope_map(name: str, _: Reader, scope_maps: ScopeMapsDep) -> ScopeMap:
    return scope_map_model(scope_maps.get(name))


@router.patch("/scope-maps/{name}")
def update_scope_map(
    name: str, body: ScopeMapUpdate, principal: Writer, scope_maps: ScopeMapsDep
) -> ScopeMap:
    """Add and remove actions, or change the description; tokens follow at once."""
    updated = scope_maps.update(name, body.add, body.remove, body.description, principal.id)
    return scope_map_model(updated)


@router.delete("/scope-maps/{name}", status_code=204)
def delete_scope_map(name: str, principal: Writer, scope_maps: ScopeMapsDep) -> Response:
    """Delete a scope map no token uses."""
    scope_maps.delete(name, principal.id)
    return Response(status_code=204)
