"""The Authenticator, without HTTP: who an Authorization value names."""

from __future__ import annotations

import base64

import pytest

from dockyard.access.authenticator import MAX_AUTHORIZATION_BYTES, Authenticator
from dockyard.access.principals import REFRESH_TOKEN_USERNAME, Principal
from dockyard.access.rights import PULL
from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.errors import Unauthorized
from dockyard.storage.db.database import Database
from tests.service.conftest import ACTOR, unique

SERVICE = "registry.test"
CLIENT = "192.0.2.30"


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def authenticator(access: AccessService, module_database: Database) -> Authenticator:
    return Authenticator(access, TokenSigner(module_database), SERVICE)


def test_basic_bearer_and_refresh_credentials(
    access: AccessService, authenticator: Authenticator
) -> None:
    name = unique("dev")
    password = access.users.create(name, "user", ACTOR)
    access.roles.assign(name, "AcrPull", "*", ACTOR)
    principal = Principal("user", name)

    caller = authenticator.identify(_basic(name, password), CLIENT)
    assert (caller.principal, caller.via) == (principal, "basic")
    assert caller.can_read("any/repo")

    generation = access.status.generation(principal)
    assert generation is not None
    refresh = authenticator.signer.issue_refresh(principal.id, SERVICE, generation)
    refreshed = authenticator.identify(_basic(REFRESH_TOKEN_USERNAME, refresh), CLIENT)
    assert refreshed.principal == principal

    claims = [{"type": "repository", "name": "a/b", "actions": [PULL]}]
    token, _ = authenticator.signer.issue_access(principal.id, SERVICE, claims, generation)
    bearer = authenticator.identify(f"Bearer {token}", CLIENT)
    assert (bearer.principal, bearer.via) == (principal, "bearer")
    assert bearer.can_read("a/b")
    assert not bearer.can_read("a/c")

    access.users.reset_password(name, ACTOR)
    with pytest.raises(Unauthorized, match="earlier"):
        authenticator.identify(f"Bearer {token}", CLIENT)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Basic !!!", "malformed Basic credentials"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed Basic credentials"),
        ("Digest x", "unsupported Authorization scheme"),
        ("Basic " + "A" * MAX_AUTHORIZATION_BYTES, "too long"),
    ],
)
def test_malformed_authorization_is_unauthorized(
    authenticator: Authenticator, authorization: str, message: str
) -> None:
    with pytest.raises(Unauthorized, match=message):
        authenticator.identify(authorization, CLIENT)


def test_no_credentials_is_anonymous(authenticator: Authenticator) -> None:
    caller = authenticator.identify("", CLIENT)
    assert (caller.principal.kind, caller.via) == ("anonymous", "none")
    assert not caller.can_read("any/repo")
