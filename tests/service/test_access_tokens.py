"""Scope maps and tokens: validation, conflicts, the typed values returned, and the rights a
token gets from its scope map (which follow changes at once)."""

from __future__ import annotations

import time

import pytest

from dockyard.access.model import ScopeMap, TokenStatus
from dockyard.access.principals import Principal
from dockyard.access.rights import DELETE, PULL, PUSH
from dockyard.access.service import AccessService
from dockyard.errors import Conflict, Invalid, NotFound, Unauthorized
from tests.service.conftest import ACTOR, unique

CLIENT = "192.0.2.2"
READ = "content/read"


def test_scope_map_validation(access: AccessService) -> None:
    with pytest.raises(Invalid, match="invalid scope map name"):
        access.scope_maps.create("_mine", [f"repositories/a/{READ}"], "", ACTOR)
    with pytest.raises(Invalid, match="at least one action"):
        access.scope_maps.create(unique("m"), [], "", ACTOR)
    with pytest.raises(Invalid):
        access.scope_maps.create(unique("m"), ["repositories/a/content/fly"], "", ACTOR)
    with pytest.raises(Invalid, match="invalid scope map name"):
        access.scope_maps.create("no spaces", [f"repositories/a/{READ}"], "", ACTOR)


def test_scope_maps_are_typed_and_system_ones_are_fixed(access: AccessService) -> None:
    name = unique("map")
    created = access.scope_maps.create(name, [f"repositories/b/{READ}"] * 2, "ci", ACTOR)
    assert created == ScopeMap(name, "ci", (f"repositories/b/{READ}",), system=False)
    assert access.scope_maps.get(name) == created
    with pytest.raises(Conflict, match="exists"):
        access.scope_maps.create(name, [f"repositories/b/{READ}"], "", ACTOR)

    system = access.scope_maps.get("_repositories_pull")
    assert system.system
    assert system in access.scope_maps.all()
    with pytest.raises(Conflict, match="cannot be changed"):
        access.scope_maps.update("_repositories_pull", [], [], "x", ACTOR)
    with pytest.raises(Conflict, match="cannot be deleted"):
        access.scope_maps.delete("_repositories_push", ACTOR)
    with pytest.raises(NotFound):
        access.scope_maps.update(unique("ghost"), [], [], None, ACTOR)
    with pytest.raises(NotFound):
        access.scope_maps.get(unique("ghost"))


def test_token_rights_follow_its_scope_map(access: AccessService) -> None:
    scope_map, token = unique("map"), unique("tok")
    access.scope_maps.create(scope_map, [f"repositories/c/*/{READ}"], "", ACTOR)
    passwords = access.tokens.create(token, scope_map, True, ACTOR)
    assert [p.slot for p in passwords] == [1, 2]
    principal = Principal("token", token)
    assert access.logins.authenticate(token, passwords[1].password, CLIENT) == principal
    assert access.permissions.rights(principal).allows("c/app", PULL)
    assert not access.permissions.rights(principal).allows("c/app", PUSH)

    updated = access.scope_maps.update(
        scope_map, ["repositories/c/*/content/write"], [], None, ACTOR
    )
    assert updated.description == ""
    assert access.permissions.rights(principal).allows("c/app", PUSH)
    assert not access.permissions.rights(principal).allows("c/app", DELETE)

    with pytest.raises(Conflict, match="used by token"):
        access.scope_maps.delete(scope_map, ACTOR)
    access.tokens.delete(token, ACTOR)
    with pytest.raises(Unauthorized):
        access.logins.authenticate(token, passwords[0].password, CLIENT)
    access.scope_maps.delete(scope_map, ACTOR)
    with pytest.raises(NotFound):
        access.scope_maps.delete(scope_map, ACTOR)


def test_token_passwords_expire_and_regenerate(access: AccessService) -> None:
    token = unique("tok")
    with pytest.raises(NotFound, match="scope map"):
        access.tokens.create(token, unique("ghost"), True, ACTOR)
    access.tokens.create(token, "_repositories_pull", False, ACTOR)
    assert access.tokens.get(token).status is TokenStatus.DISABLED
    access.tokens.set_enabled(token, True, ACTOR)
    before = access.status.generation(Principal("token", token))

    expired = access.tokens.generate_password(token, 1, time.time() - 1, ACTOR)
    assert access.status.generation(Principal("token", token)) not in (None, before)
    with pytest.raises(Unauthorized):
        access.logins.authenticate(token, expired.password, CLIENT)
    listed = access.tokens.get(token)
    assert listed.status is TokenStatus.ENABLED
    expiries = {p.slot: p.expires_at for p in listed.passwords}
    assert expiries[1] == expired.expires_at
    assert expiries[2] is None
    assert listed in access.tokens.all()

    with pytest.raises(Invalid, match="passwords 1 and 2"):
        access.tokens.generate_password(token, 3, None, ACTOR)
    with pytest.raises(NotFound):
        access.tokens.generate_password(unique("ghost"), 1, None, ACTOR)
    with pytest.raises(NotFound):
        access.tokens.get(unique("ghost"))
