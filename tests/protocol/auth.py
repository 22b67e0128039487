"""An auth-enabled in-process registry seen as tests/integration's `AuthServer`: its URL and
host, the owner's credentials, the access service and new users; so that a test moved here
from tests/integration keeps its body."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.access.service import AccessService
from tests.integration.auth_helpers import ACTOR, basic, nonce
from tests.protocol.conftest import BASE_URL, InProcessRegistry


@dataclass
class InProcessAuth:
    registry: InProcessRegistry
    url: str = BASE_URL

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def access(self) -> AccessService:
        return self.registry.services.auth.access

    @property
    def owner_password(self) -> str:
        assert self.registry.owner_password is not None, "this registry has no owner"
        return self.registry.owner_password

    def owner(self) -> dict[str, str]:
        return basic("owner", self.owner_password)

    def user(self, role: str | None = None, scope: str = "*", prefix: str = "u") -> tuple[str, str]:
        """A new user, with `role` over `scope` when given; returns (name, password)."""
        name = f"{prefix}{nonce()}"
        password = self.access.users.create(name, "user", ACTOR)
        if role is not None:
            self.access.roles.assign(name, role, scope, ACTOR)
        return name, password
