"""What a registry request needs, and whether the caller has it.

A request's `Requirement` (derived from the route table, dockyard.api.routes), whether an
access token's claims cover it, and the intersection of requested and held actions that the
token service grants.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.access.rights import (
    DELETE,
    MANAGE_READ,
    MANAGE_WRITE,
    METADATA_READ,
    METADATA_WRITE,
    PULL,
    PUSH,
    Rights,
)
from dockyard.spec.scopes import Scope

TOKEN_ACTIONS = {"pull": PULL, "push": PUSH, "delete": DELETE}
# `registry:management:read,write`: an access token meant for the management API (/api/v1).
# Registry tokens never open it; these actions are granted only to holders of the rights.
MANAGEMENT = "management"
MANAGEMENT_ACTIONS = {"read": MANAGE_READ, "write": MANAGE_WRITE}


@dataclass(frozen=True, slots=True)
class Requirement:
    kind: str  # "base" (/v2/), "catalog", "repository"
    repository: str | None = None
    actions: tuple[str, ...] = ()

    @property
    def scope(self) -> str | None:
        """The scope a 401 challenge asks for (token actions, and ACR's metadata actions)."""
        if self.kind == "catalog":
            return "registry:catalog:*"
        if self.repository is None:
            return None
        scoped = (PULL, PUSH, DELETE, METADATA_READ, METADATA_WRITE)
        token_actions = [a for a in self.actions if a in scoped]
        if not token_actions:
            token_actions = [PULL]
        return f"repository:{self.repository}:{','.join(token_actions)}"


def grant(rights: Rights, scopes: list[Scope]) -> list[dict[str, object]]:
    """The token service's answer: each requested scope cut down to what `rights` allow."""
    granted: list[dict[str, object]] = []
    for scope in scopes:
        if scope.type == "registry":
            if rights.can_list_catalog and scope.name == "catalog":
                granted.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            elif scope.name == MANAGEMENT:
                wanted = set(MANAGEMENT_ACTIONS) if "*" in scope.actions else set(scope.actions)
                held_management = sorted(
                    a for a in wanted if MANAGEMENT_ACTIONS.get(a) in rights.registry_actions
                )
                granted.append({"type": "registry", "name": MANAGEMENT, "actions": held_management})
            continue
        held = rights.on(scope.name)
        wanted = set(TOKEN_ACTIONS) if "*" in scope.actions else set(scope.actions)
        allowed = sorted(a for a in wanted if TOKEN_ACTIONS.get(a) in held)
        for extra in (METADATA_READ, METADATA_WRITE):
            if extra in scope.actions and extra in held:
                allowed.append(extra)
        granted.append({"type": "repository", "name": scope.name, "actions": allowed})
    return granted


def claims_allow(access: list[dict[str, object]], need: Requirement) -> bool:
    """Whether an access token's `access` claim covers a request."""
    for entry in access:
        if not isinstance(entry, dict):
            continue
        actions = entry.get("actions")
        if not isinstance(actions, list):
            continue
        if need.kind == "catalog":
            if (
                entry.get("type") == "registry"
                and entry.get("name") == "catalog"
                and "*" in actions
            ):
                return True
        elif entry.get("type") == "repository" and entry.get("name") == need.repository:
            held = {TOKEN_ACTIONS.get(str(a), str(a)) for a in actions}
            if set(need.actions) <= held:
                return True
    return False


def management_claims(access: list[dict[str, object]]) -> frozenset[str]:
    """The management actions (`read`, `write`) an access token's `access` claim carries;
    empty for a registry token, which therefore does not open the management API."""
    held: set[str] = set()
    for entry in access:
        if not isinstance(entry, dict):
            continue
        actions = entry.get("actions")
        if entry.get("type") != "registry" or entry.get("name") != MANAGEMENT:
            continue
        if isinstance(actions, list):
            held.update(str(a) for a in actions if str(a) in MANAGEMENT_ACTIONS)
    return frozenset(held)
