"""What an identity may do: ACR's roles and scope-map actions, mapped onto registry actions.

Registry actions are the Docker token actions `pull`, `push`, `delete`, plus `metadata_read`,
`metadata_write` (ACR's data-plane metadata), `sign` (content trust), `quarantine_read` /
`quarantine_write` (quarantined manifests) and `manage_read` / `manage_write` (the management
API).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PULL, PUSH, DELETE = "pull", "push", "delete"
METADATA_READ, METADATA_WRITE, SIGN = "metadata_read", "metadata_write", "sign"
MANAGE_READ, MANAGE_WRITE = "manage_read", "manage_write"
# Pulling manifests held in quarantine, and marking them passed (a vulnerability scanner).
QUARANTINE_READ, QUARANTINE_WRITE = "quarantine_read", "quarantine_write"
REPOSITORY_ACTIONS = frozenset(
    {PULL, PUSH, DELETE, METADATA_READ, METADATA_WRITE, SIGN, QUARANTINE_READ, QUARANTINE_WRITE}
)
ALL_ACTIONS = REPOSITORY_ACTIONS | {MANAGE_READ, MANAGE_WRITE}

# ACR's built-in roles (Azure Container Registry roles and permissions).
ROLES: dict[str, frozenset[str]] = {
    "Owner": ALL_ACTIONS,
    "Contributor": ALL_ACTIONS,
    "Reader": frozenset({PULL, METADATA_READ, MANAGE_READ}),
    "AcrPush": frozenset({PULL, PUSH, METADATA_READ}),
    "AcrPull": frozenset({PULL}),
    "AcrDelete": frozenset({DELETE}),
    "AcrImageSigner": frozenset({SIGN}),
    "AcrQuarantineReader": frozenset({QUARANTINE_READ}),
    "AcrQuarantineWriter": frozenset({QUARANTINE_READ, QUARANTINE_WRITE}),
}

# Scope-map actions (`repositories/<name>/<action>`) and what each allows.
SCOPE_MAP_ACTIONS: dict[str, str] = {
    "content/read": PULL,
    "content/write": PUSH,
    "content/delete": DELETE,
    "metadata/read": METADATA_READ,
    "metadata/write": METADATA_WRITE,
}

# ACR's system scope maps, over every repository.
SYSTEM_SCOPE_MAPS: dict[str, tuple[str, ...]] = {
    "_repositories_pull": ("content/read",),
    "_repositories_pull_metadata_read": ("content/read", "metadata/read"),
    "_repositories_push": ("content/read", "content/write"),
    "_repositories_push_metadata_write": (
        "content/read",
        "content/write",
        "metadata/read",
        "metadata/write",
    ),
    "_repositories_admin": (
        "content/read",
        "content/write",
        "content/delete",
        "metadata/read",
        "metadata/write",
    ),
}


class InvalidScopeMapAction(ValueError):
    """A scope-map action that is not `repositories/<name or prefix/*>/<action>`."""


def repository_matches(pattern: str, repository: str) -> bool:
    """`*` is every repository; `a/*` is every repository under `a/` (not `ab/c`)."""
    if pattern == "*":
        return True
    if pattern.endswith("/*"):
        return repository.startswith(pattern[:-1])
    return pattern == repository


@dataclass(frozen=True, slots=True)
class Grant:
    """Actions on the repositories that a pattern matches."""

    pattern: str
    actions: frozenset[str]

    def allows(self, repository: str) -> frozenset[str]:
        return self.actions if repository_matches(self.pattern, repository) else frozenset()


def parse_scope_map_action(text: str) -> Grant:
    prefix = "repositories/"
    if not text.startswith(prefix):
        raise InvalidScopeMapAction(f"{text!r}: an action starts with 'repositories/'")
    rest = text[len(prefix) :]
    for suffix, action in SCOPE_MAP_ACTIONS.items():
        if rest.endswith("/" + suffix):
            pattern = rest[: -len(suffix) - 1]
            if (
                not pattern
                or pattern.startswith("/")
                or "//" in pattern
                or ("*" in pattern and pattern != "*" and not pattern.endswith("/*"))
                or pattern.count("*") > 1
            ):
                raise InvalidScopeMapAction(f"{text!r}: invalid repository {pattern!r}")
            return Grant(pattern, frozenset({action}))
    raise InvalidScopeMapAction(
        f"{text!r}: the action must end in one of {', '.join(sorted(SCOPE_MAP_ACTIONS))}"
    )


@dataclass(frozen=True)
class Rights:
    """Everything one identity may do, as grants over repository patterns."""

    grants: tuple[Grant, ...] = ()
    can_list_catalog: bool = False
    registry_actions: frozenset[str] = field(default_factory=frozenset)

    def on(self, repository: str) -> frozenset[str]:
        allowed: set[str] = set()
        for grant in self.grants:
            allowed |= grant.allows(repository)
        return frozenset(allowed)

    def allows(self, repository: str, action: str) -> bool:
        return action in self.on(repository)
