"""The access wing's parts, built once over one database. Composition only: each concept
(users, roles, scope maps, tokens, the admin user, logins, status, permissions) is its own
module, and callers use the part they need."""

from __future__ import annotations

from dockyard.access.admin import AdminUser
from dockyard.access.anonymous_pull import AnonymousPull
from dockyard.access.audit import AuditLog
from dockyard.access.bootstrap import FirstStart
from dockyard.access.logins import MAX_FAILURES_PER_ADDRESS, Logins
from dockyard.access.permissions import Permissions
from dockyard.access.roles import Roles
from dockyard.access.run_identity import RunIdentities
from dockyard.access.scope_maps import ScopeMaps
from dockyard.access.status import PrincipalStatus
from dockyard.access.tokens import Tokens
from dockyard.access.users import Users
from dockyard.storage.db.database import Database


class AccessService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        admin_username: str,
        max_failures_per_address: int = MAX_FAILURES_PER_ADDRESS,
    ) -> None:
        self.audit = audit
        self.run_identities = RunIdentities(db)
        self.anonymous_pull = AnonymousPull(db, audit)
        self.admin = AdminUser(db, audit, admin_username)
        self.users = Users(db, audit, admin_username)
        self.roles = Roles(db, audit)
        self.scope_maps = ScopeMaps(db, audit)
        self.tokens = Tokens(db, audit, admin_username, self.scope_maps)
        self.logins = Logins(db, audit, self.admin, max_failures_per_address)
        self.status = PrincipalStatus(db, self.anonymous_pull, self.run_identities)
        self.permissions = Permissions(
            audit,
            self.anonymous_pull,
            self.roles,
            self.scope_maps,
            self.tokens,
            self.run_identities,
        )
        self.first_start = FirstStart(db, self.users, self.roles, self.admin)
