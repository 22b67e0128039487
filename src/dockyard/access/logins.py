"""Logins with a name and a password: the check, in constant work whatever the name, and the
counting and limiting of failures (per username and address, and per address)."""

from __future__ import annotations

import time

from prometheus_client import Counter
from sqlalchemy import bindparam, select

from dockyard import telemetry
from dockyard.access.admin import AdminUser
from dockyard.access.audit import AuditLog
from dockyard.access.passwords import VerifiedCache, verify_dummy, verify_password
from dockyard.access.principals import ADMIN, Principal
from dockyard.access.status import TOKEN_STATUS, USER_STATUS
from dockyard.errors import TooMany, Unauthorized
from dockyard.storage.db.database import Database, upsert
from dockyard.storage.db.schema import credentials, login_failures

FAILURE_WINDOW_SECONDS = 300.0
MAX_FAILURES = 10  # per username and client address
MAX_FAILURES_PER_ADDRESS = 30  # per client address, whatever the usernames (spraying)
# Every failed login costs as many password checks as the principal with the most passwords
# has (tokens and the admin user have two), so that its time tells nothing of the name.
CHECKS_PER_LOGIN = 2
MAX_USERNAME_CHARS = 256
MAX_PASSWORD_CHARS = 1024
AUTH_FAILURES = Counter(
    "dockyard_auth_failures_total", "Failed logins: credentials that matched no principal"
)

# Built once: read on every login.
_FAILURES = select(
    login_failures.c.key, login_failures.c.failures, login_failures.c.window_start
).where(login_failures.c.key.in_(bindparam("keys", expanding=True)))
_PASSWORDS = select(credentials.c.password_hash, credentials.c.expires_at).where(
    credentials.c.principal == bindparam("principal")
)


class Logins:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        admin: AdminUser,
        max_failures_per_address: int = MAX_FAILURES_PER_ADDRESS,
    ) -> None:
        self._db = db
        self._audit = audit
        self._admin = admin
        self.max_failures_per_address = max_failures_per_address
        self._verified = VerifiedCache()

    def authenticate(self, username: str, password: str, client: str) -> Principal:
        """Check Basic credentials. Failures are counted per username and client address, and
        per client address across usernames (password spraying), and limited."""
        if len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
            raise Unauthorized("credentials too long")
        if not username and not password:
            # Empty Basic credentials are what some clients send when they have none: no
            # login was tried, so none failed.
            raise Unauthorized("credentials required")
        if "\x00" in username:
            # No name holds NUL, and PostgreSQL text cannot: nothing to count it under.
            raise Unauthorized("invalid username or password")
        keys = [f"user|{username}|{client}"]
        limits = {keys[0]: MAX_FAILURES}
        if self.max_failures_per_address:
            keys.append(f"address|{client}")
            limits[keys[1]] = self.max_failures_per_address
        self._check_failures(limits)
        principal, checked = self._match(username, password)
        if principal is None:
            self._count_failures(keys)
            self._audit.record("login", username, "denied", client=client)
            raise Unauthorized("invalid username or password")
        if checked:
            # Only when the password was checked, not remembered: a client that sends Basic
            # credentials with every request logs in once a minute per process, not each time.
            self._audit.record("login", principal.id, "ok", client=client)
        return principal

    def _candidate(self, username: str) -> Principal | None:
        """The enabled principal called `username`, if there is one."""
        if username == self._admin.username:
            return ADMIN if self._admin.enabled else None
        with self._db.read() as conn:
            token = conn.execute(TOKEN_STATUS, {"name": username}).first()
            user = None if token else conn.execute(USER_STATUS, {"name": username}).first()
        if token is not None:
            return Principal("token", username) if token[0] else None
        if user is not None:
            return Principal("user", username) if user[0] else None
        return None

    def _match(self, username: str, password: str) -> tuple[Principal | None, bool]:
        """The principal whose password this is, and whether its hash was checked now (not
        remembered). Unknown, disabled and expired names cost the same password checks as a
        wrong password does (dummy hashes), so the time of a refusal does not tell whether
        the name exists."""
        now = time.time()
        candidate = self._candidate(username)
        hashes: list[str] = []
        if candidate is not None:
            with self._db.read() as conn:
                rows = conn.execute(_PASSWORDS, {"principal": candidate.id}).all()
            hashes = [h for h, expires_at in rows if expires_at is None or expires_at >= now]
            for password_hash in hashes:
                if self._verified.hit(candidate.id, password, password_hash):
                    return candidate, False
        for password_hash in hashes[:CHECKS_PER_LOGIN]:
            if verify_password(password_hash, password):
                assert candidate is not None
                self._verified.remember(candidate.id, password, password_hash)
                return candidate, True
        for _ in range(CHECKS_PER_LOGIN - min(len(hashes), CHECKS_PER_LOGIN)):
            verify_dummy(password)
        return None, True

    def _check_failures(self, limits: dict[str, int]) -> None:
        with self._db.read() as conn:
            rows = conn.execute(_FAILURES, {"keys": list(limits)}).all()
        now = time.time()
        for key, failures, started in rows:
            wait = float(started) + FAILURE_WINDOW_SECONDS - now
            if int(failures) >= limits[key] and wait > 0:
                raise TooMany("too many failed logins; try again later", retry_after=int(wait) + 1)

    def _count_failures(self, keys: list[str]) -> None:
        telemetry.record(AUTH_FAILURES.inc)
        now = time.time()
        with self._db.write() as conn:
            found = {
                key: (int(failures), float(started))
                for key, failures, started in conn.execute(_FAILURES, {"keys": keys})
            }
            for key in keys:
                row = found.get(key)
                if row is None or row[1] + FAILURE_WINDOW_SECONDS < now:
                    values = {"key": key, "failures": 1, "window_start": now}
                else:
                    values = {"key": key, "failures": row[0] + 1, "window_start": row[1]}
                upsert(conn, login_failures, values, ["key"], ["failures", "window_start"])
