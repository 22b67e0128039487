"""Users: names, conflicts with the admin user and tokens, the typed values returned, and
what disabling, resetting and deleting do to logins and to tokens issued before."""

from __future__ import annotations

import pytest

from dockyard.access.model import User, UserKind
from dockyard.access.principals import Principal
from dockyard.access.service import AccessService
from dockyard.errors import Conflict, Invalid, NotFound, Unauthorized
from tests.service.conftest import ACTOR, ADMIN_USERNAME, unique

CLIENT = "192.0.2.1"


@pytest.mark.parametrize("name", ["bad name", "-dash", "x" * 65, "a@", ""])
def test_invalid_names_are_refused_as_invalid(access: AccessService, name: str) -> None:
    with pytest.raises(Invalid, match="invalid user name"):
        access.users.create(name, "user", ACTOR)


def test_user_is_returned_typed_and_may_log_in(access: AccessService) -> None:
    name = unique("alice")
    password = access.users.create(name, "service-principal", ACTOR)
    found = access.users.get(name)
    assert isinstance(found, User)
    assert found.kind is UserKind.SERVICE_PRINCIPAL
    assert found.enabled
    assert found.created_at > 0
    assert found in access.users.all()
    assert access.logins.authenticate(name, password, CLIENT) == Principal("user", name)


def test_email_names_are_user_names(access: AccessService) -> None:
    name = f"{unique('bob')}.o'neil+ci@example.com"
    access.users.create(name, "user", ACTOR)
    assert access.users.get(name).name == name


def test_taken_names_conflict(access: AccessService) -> None:
    name = unique("carol")
    access.users.create(name, "user", ACTOR)
    with pytest.raises(Conflict, match="exists"):
        access.users.create(name, "user", ACTOR)
    with pytest.raises(Conflict, match="admin user"):
        access.users.create(ADMIN_USERNAME, "user", ACTOR)
    token = unique("tok")
    access.tokens.create(token, "_repositories_pull", True, ACTOR)
    with pytest.raises(Conflict, match="token's name"):
        access.users.create(token, "user", ACTOR)
    with pytest.raises(Conflict, match="user's name"):
        access.tokens.create(name, "_repositories_pull", True, ACTOR)


def test_unknown_kind_is_invalid(access: AccessService) -> None:
    with pytest.raises(Invalid, match="kind"):
        access.users.create(unique("dave"), "robot", ACTOR)


def test_unknown_users_are_not_found(access: AccessService) -> None:
    ghost = unique("ghost")
    for change in (
        lambda: access.users.get(ghost),
        lambda: access.users.delete(ghost, ACTOR),
        lambda: access.users.reset_password(ghost, ACTOR),
        lambda: access.users.set_enabled(ghost, False, ACTOR),
    ):
        with pytest.raises(NotFound, match=ghost):
            change()


def test_disable_reset_and_delete_end_logins_and_earlier_tokens(access: AccessService) -> None:
    name = unique("erin")
    principal = Principal("user", name)
    password = access.users.create(name, "user", ACTOR)
    first = access.status.generation(principal)
    assert first is not None

    new_password = access.users.reset_password(name, ACTOR)
    second = access.status.generation(principal)
    assert second not in (None, first), "a reset must invalidate tokens issued before"
    with pytest.raises(Unauthorized):
        access.logins.authenticate(name, password, CLIENT)
    assert access.logins.authenticate(name, new_password, CLIENT) == principal

    access.users.set_enabled(name, False, ACTOR)
    assert access.status.generation(principal) is None
    assert not access.users.get(name).enabled
    with pytest.raises(Unauthorized):
        access.logins.authenticate(name, new_password, CLIENT)
    access.users.set_enabled(name, True, ACTOR)
    assert access.status.generation(principal) not in (None, first, second)

    access.users.delete(name, ACTOR)
    assert access.status.generation(principal) is None
    assert name not in {user.name for user in access.users.all()}
