"""Logins: the failure limits (TooMany with retry_after, no HTTP headers), and the admin
user's passwords and generation."""

from __future__ import annotations

import pytest

from dockyard.access.audit import AuditLog
from dockyard.access.logins import FAILURE_WINDOW_SECONDS
from dockyard.access.principals import ADMIN
from dockyard.access.service import AccessService
from dockyard.errors import Invalid, TooMany, Unauthorized
from dockyard.storage.db.database import Database
from tests.service.conftest import ACTOR, ADMIN_USERNAME, unique


def test_failures_per_address_are_limited_with_retry_after(
    database: Database, audit: AuditLog
) -> None:
    access = AccessService(database, audit, ADMIN_USERNAME, max_failures_per_address=2)
    client = "192.0.2.10"
    name = unique("victim")
    password = access.users.create(name, "user", ACTOR)
    for guess in ("wrong1", "wrong2"):
        with pytest.raises(Unauthorized, match="invalid username or password"):
            access.logins.authenticate(unique("sprayed"), guess, client)
    with pytest.raises(TooMany) as refused:
        access.logins.authenticate(name, password, client)
    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= FAILURE_WINDOW_SECONDS + 1
    assert not hasattr(refused.value, "headers"), "services say retry_after; the edge makes headers"
    # Another address is not held back.
    assert access.logins.authenticate(name, password, "192.0.2.11").name == name


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", "", "credentials required"),
        ("x" * 257, "p", "too long"),
        ("nul\x00", "p", "invalid username or password"),
    ],
)
def test_malformed_credentials_are_unauthorized(
    access: AccessService, username: str, password: str, message: str
) -> None:
    with pytest.raises(Unauthorized, match=message):
        access.logins.authenticate(username, password, "192.0.2.12")


def test_admin_user_passwords_and_generation(access: AccessService) -> None:
    client = "192.0.2.13"
    assert not access.admin.enabled
    assert access.status.generation(ADMIN) is None
    created = access.admin.enable(True, ACTOR)
    assert [p.slot for p in created] == [1, 2]
    assert access.admin.enabled
    assert access.logins.authenticate(ADMIN_USERNAME, created[1].password, client) == ADMIN
    assert access.permissions.rights(ADMIN).registry_actions
    first = access.status.generation(ADMIN)
    assert first == "admin"

    assert access.admin.enable(True, ACTOR) == [], "passwords are created only once"
    regenerated = access.admin.regenerate_password(1, ACTOR)
    assert regenerated.slot == 1
    assert access.status.generation(ADMIN) not in (None, first)
    with pytest.raises(Unauthorized):
        access.logins.authenticate(ADMIN_USERNAME, created[0].password, client)
    with pytest.raises(Invalid, match="passwords 1 and 2"):
        access.admin.regenerate_password(3, ACTOR)

    access.admin.enable(False, ACTOR)
    assert access.status.generation(ADMIN) is None
    with pytest.raises(Unauthorized):
        access.logins.authenticate(ADMIN_USERNAME, regenerated.password, client)
