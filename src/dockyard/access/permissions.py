"""What a principal may do: its rights, from its roles, its token's scope map, its run, or
the anonymous-pull setting; and the check of the management rights."""

from __future__ import annotations

from dockyard.access.anonymous_pull import AnonymousPull
from dockyard.access.audit import AuditLog
from dockyard.access.principals import Principal
from dockyard.access.rights import (
    ALL_ACTIONS,
    MANAGE_READ,
    MANAGE_WRITE,
    METADATA_READ,
    PULL,
    ROLES,
    Grant,
    Rights,
    parse_scope_map_action,
)
from dockyard.access.roles import Roles
from dockyard.access.run_identity import RUN_KIND, RunIdentities
from dockyard.access.scope_maps import ScopeMaps
from dockyard.access.tokens import Tokens
from dockyard.errors import Denied

ANONYMOUS_ACTIONS = frozenset({PULL, METADATA_READ})


class Permissions:
    def __init__(
        self,
        audit: AuditLog,
        anonymous_pull: AnonymousPull,
        roles: Roles,
        scope_maps: ScopeMaps,
        tokens: Tokens,
        run_identities: RunIdentities,
    ) -> None:
        self._audit = audit
        self._anonymous_pull = anonymous_pull
        self._roles = roles
        self._scope_maps = scope_maps
        self._tokens = tokens
        self._run_identities = run_identities

    def rights(self, principal: Principal) -> Rights:
        if principal.kind == "admin":
            return Rights(
                (Grant("*", ALL_ACTIONS),), can_list_catalog=True, registry_actions=ALL_ACTIONS
            )
        if principal.kind == "anonymous":
            if not self._anonymous_pull.enabled:
                return Rights(())
            # ACR's anonymous pull: content, the catalog and metadata may be read, nothing more.
            return Rights((Grant("*", ANONYMOUS_ACTIONS),), can_list_catalog=True)
        if principal.kind == RUN_KIND:
            return self._run_identities.rights(principal.name, self.rights)
        if principal.kind == "token":
            scope_map = self._tokens.scope_map_of(principal.name)
            if scope_map is None:
                return Rights()
            actions = self._scope_maps.actions(scope_map)
            return Rights(tuple(parse_scope_map_action(a) for a in actions))
        held = self._roles.held(principal.name)
        role_grants = tuple(Grant(scope, ROLES[role]) for role, scope in held if role in ROLES)
        registry_actions = frozenset().union(*(g.actions for g in role_grants if g.pattern == "*"))
        return Rights(role_grants, can_list_catalog=True, registry_actions=registry_actions)

    def require_manage(self, principal: Principal, write: bool) -> None:
        """Denied unless the principal may read (or, with `write`, change) the registry's
        settings and access control."""
        needed = MANAGE_WRITE if write else MANAGE_READ
        if needed not in self.rights(principal).registry_actions:
            self._audit.record("manage", principal.id, "denied", needed=needed)
            raise Denied(
                f"{principal.id} may not {'change' if write else 'read'} registry settings"
            )
