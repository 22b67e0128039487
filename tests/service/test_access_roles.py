"""Role assignments and the rights that follow from them."""

from __future__ import annotations

import pytest

from dockyard.access.model import RoleAssignment
from dockyard.access.principals import Principal
from dockyard.access.rights import MANAGE_READ, MANAGE_WRITE, PULL, PUSH
from dockyard.access.service import AccessService
from dockyard.errors import Denied, Invalid, NotFound
from tests.service.conftest import ACTOR, unique


def test_roles_give_rights_over_their_scope(access: AccessService) -> None:
    name = unique("dev")
    access.users.create(name, "user", ACTOR)
    assigned = access.roles.assign(name, "AcrPush", "team/*", ACTOR)
    assert assigned == RoleAssignment(name, "AcrPush", "team/*")
    assert access.roles.all(name) == [assigned]

    rights = access.permissions.rights(Principal("user", name))
    assert rights.allows("team/app", PUSH)
    assert not rights.allows("other/app", PULL)
    assert not rights.registry_actions
    with pytest.raises(Denied):
        access.permissions.require_manage(Principal("user", name), write=False)

    access.roles.assign(name, "Reader", "*", ACTOR)
    access.permissions.require_manage(Principal("user", name), write=False)
    assert MANAGE_READ in access.permissions.rights(Principal("user", name)).registry_actions
    assert MANAGE_WRITE not in access.permissions.rights(Principal("user", name)).registry_actions

    access.roles.remove(name, "AcrPush", "team/*", ACTOR)
    assert not access.permissions.rights(Principal("user", name)).allows("team/app", PUSH)
    with pytest.raises(NotFound, match="no such role assignment"):
        access.roles.remove(name, "AcrPush", "team/*", ACTOR)


def test_bad_assignments_are_refused(access: AccessService) -> None:
    name = unique("ops")
    access.users.create(name, "user", ACTOR)
    with pytest.raises(Invalid, match="unknown role"):
        access.roles.assign(name, "Janitor", "*", ACTOR)
    with pytest.raises(Invalid, match="invalid scope"):
        access.roles.assign(name, "AcrPull", "a/*/b", ACTOR)
    with pytest.raises(NotFound, match="not found"):
        access.roles.assign(unique("ghost"), "AcrPull", "*", ACTOR)
    assert access.roles.all(name) == []


def test_deleting_a_user_removes_its_assignments(access: AccessService) -> None:
    name = unique("gone")
    access.users.create(name, "user", ACTOR)
    access.roles.assign(name, "AcrPull", "*", ACTOR)
    access.users.delete(name, ACTOR)
    assert access.roles.all(name) == []
