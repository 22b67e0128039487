"""Whether a principal still exists as it was: its credential generation, which every token
issued to it carries."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from dockyard.access.anonymous_pull import AnonymousPull
from dockyard.access.principals import Principal
from dockyard.access.run_identity import RUN_KIND, RunIdentities
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import tokens, users
from dockyard.tiers.settings import admin_status

# Built once: the status of a principal is read on every request that presents a token.
USER_STATUS = select(users.c.enabled, users.c.created_at, users.c.credential_generation).where(
    users.c.name == bindparam("name")
)
TOKEN_STATUS = select(tokens.c.enabled, tokens.c.created_at, tokens.c.credential_generation).where(
    tokens.c.name == bindparam("name")
)


class PrincipalStatus:
    def __init__(
        self, db: Database, anonymous_pull: AnonymousPull, run_identities: RunIdentities
    ) -> None:
        self._db = db
        self._anonymous_pull = anonymous_pull
        self._run_identities = run_identities

    def generation(self, principal: Principal) -> str | None:
        """None when the principal is removed or disabled; otherwise its credential
        generation, which every token carries and which changes when the principal is
        deleted and created again, disabled, or its passwords are reset or regenerated.

        Read from the database every time, not cached: a disable or reset takes effect on
        the very next request in every server process (one primary-key read, prebuilt)."""
        if principal.kind == "anonymous":
            return "anonymous" if self._anonymous_pull.enabled else None
        if principal.kind == RUN_KIND:  # it must end with the run
            return self._run_identities.generation(principal.name, self.generation)
        if principal.kind == "admin":
            with self._db.read() as conn:
                admin = admin_status(conn)  # a prebuilt statement, in tiers.settings
            if not admin.enabled:
                return None
            return "admin" if not admin.generation else f"admin/{admin.generation}"
        statement = TOKEN_STATUS if principal.kind == "token" else USER_STATUS
        with self._db.read() as conn:
            row = conn.execute(statement, {"name": principal.name}).first()
        if row is None or not row[0]:
            return None
        created = repr(float(row[1]))
        # Generation 0 is the creation time alone, as tokens issued before generations had.
        return created if not row[2] else f"{created}/{int(row[2])}"
