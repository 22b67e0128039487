"""A registry's first start creates one owner, once; and the anonymous-pull setting."""

from __future__ import annotations

from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.rights import MANAGE_WRITE, PULL, PUSH
from dockyard.access.service import AccessService
from tests.service.conftest import ACTOR


def test_first_start_creates_one_owner(access: AccessService) -> None:
    password = access.first_start.create_owner()
    assert password is not None
    owner = Principal("user", "owner")
    assert access.logins.authenticate("owner", password, "192.0.2.20") == owner
    assert MANAGE_WRITE in access.permissions.rights(owner).registry_actions
    assert access.first_start.create_owner() is None
    assert access.first_start.create_owner("second") is None


def test_anonymous_pull_opens_reading_only(access: AccessService) -> None:
    assert not access.anonymous_pull.enabled
    assert access.status.generation(ANONYMOUS) is None
    assert not access.permissions.rights(ANONYMOUS).allows("any/repo", PULL)
    access.anonymous_pull.set(True, ACTOR)
    assert access.status.generation(ANONYMOUS) == "anonymous"
    rights = access.permissions.rights(ANONYMOUS)
    assert rights.allows("any/repo", PULL)
    assert not rights.allows("any/repo", PUSH)
    access.anonymous_pull.set(False, ACTOR)
    assert not access.anonymous_pull.enabled
