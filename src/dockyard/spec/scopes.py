"""Docker token authentication scopes (`repository:<name>:pull,push`, `registry:catalog:*`,
and Dockyard's `registry:management:read,write` for the management API) and the
`WWW-Authenticate` challenge that asks for them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.spec.names import is_valid_name

_ACTION_RE = re.compile(r"^[a-z*][a-z_*-]*$")
MAX_SCOPES = 32


class InvalidScope(ValueError):
    """A scope string that is not `type:name:actions`."""


@dataclass(frozen=True, slots=True)
class Scope:
    type: str  # "repository" or "registry"
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def claim(self) -> dict[str, object]:
        """The scope as an entry of a token's `access` claim."""
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(text: str) -> Scope:
    # The name may hold a port-less host path but never a colon, so split from both ends.
    parts = text.split(":")
    if len(parts) < 3:
        raise InvalidScope(f"invalid scope {text!r}")
    kind, actions_text = parts[0], parts[-1]
    name = ":".join(parts[1:-1])
    actions = frozenset(a for a in actions_text.split(",") if a)
    if kind not in ("repository", "registry") or not actions:
        raise InvalidScope(f"invalid scope {text!r}")
    if not all(_ACTION_RE.match(a) for a in actions):
        raise InvalidScope(f"invalid actions in scope {text!r}")
    if kind == "repository" and not is_valid_name(name):
        raise InvalidScope(f"invalid repository name in scope {text!r}")
    if kind == "registry" and name not in ("catalog", "management"):
        raise InvalidScope(f"unknown registry resource in scope {text!r}")
    return Scope(kind, name, actions)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every `scope` parameter of a token request; each may hold several space-separated scopes."""
    scopes = [parse_scope(item) for value in values for item in value.split() if item]
    if len(scopes) > MAX_SCOPES:
        raise InvalidScope(f"at most {MAX_SCOPES} scopes per token request")
    return scopes


def challenge(realm: str, service: str, scope: str | None, error: str | None = None) -> str:
    """The `WWW-Authenticate: Bearer ...` value of a 401 (Docker token authentication spec)."""
    parts = [f'realm="{realm}"', f'service="{service}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)
