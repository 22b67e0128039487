"""Access control service: credentials, users, roles, scope maps, tokens, settings, and the
rights that follow from them."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, bindparam, delete, select, update

from dockyard import telemetry
from dockyard.access.audit import AuditLog
from dockyard.access.passwords import (
    VerifiedCache,
    generate_password,
    hash_password,
    verify_dummy,
    verify_password,
)
from dockyard.access.principals import ADMIN, ANONYMOUS, Principal
from dockyard.access.rights import (
    ALL_ACTIONS,
    METADATA_READ,
    PULL,
    ROLES,
    SYSTEM_SCOPE_MAPS,
    Grant,
    InvalidScopeMapAction,
    Rights,
    parse_scope_map_action,
)
from dockyard.access.run_identity import RUN_KIND, RunIdentities
from dockyard.errors import Denied, DockyardError, TooManyRequests, Unauthorized
from dockyard.spec.codes import ErrorCode
from dockyard.storage.db.database import Database, insert_ignore, upsert
from dockyard.storage.db.schema import (
    credentials,
    login_failures,
    registry_settings,
    role_assignments,
    scope_maps,
    tokens,
    users,
)
from dockyard.tiers.limits import check_tier_room
from dockyard.tiers.settings import load_policies

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
# Users may also be named as identity providers name them (`upn`, `preferred_username`,
# `email` claims): an e-mail address or UPN, `local@domain`, at most 128 characters. The local
# part keeps to characters that need no quoting in a URL path, a shell word or `user:<name>`.
_DOMAIN_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
EMAIL_NAME_RE = re.compile(
    rf"(?=.{{3,128}}\Z)[a-zA-Z0-9][a-zA-Z0-9._'+-]{{0,63}}@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*"
)
FAILURE_WINDOW_SECONDS = 300.0
MAX_FAILURES = 10  # per username and client address
MAX_FAILURES_PER_ADDRESS = 30  # per client address, whatever the usernames (spraying)
# Every failed login costs as many password checks as the principal with the most passwords
# has (tokens and the admin user have two), so that its time tells nothing of the name.
CHECKS_PER_LOGIN = 2
AUTH_FAILURES = Counter(
    "dockyard_auth_failures_total", "Failed logins: credentials that matched no principal"
)
ADMIN_GENERATION = "admin_credential_generation"
ANONYMOUS_ACTIONS = frozenset({PULL, METADATA_READ})

# Built once: the status of a principal is read on every request that presents a token.
_USER_STATUS = select(users.c.enabled, users.c.created_at, users.c.credential_generation).where(
    users.c.name == bindparam("name")
)
_TOKEN_STATUS = select(tokens.c.enabled, tokens.c.created_at, tokens.c.credential_generation).where(
    tokens.c.name == bindparam("name")
)
_ADMIN_STATUS = select(registry_settings.c.name, registry_settings.c.value).where(
    registry_settings.c.name.in_(["admin_enabled", ADMIN_GENERATION])
)
_FAILURES = select(
    login_failures.c.key, login_failures.c.failures, login_failures.c.window_start
).where(login_failures.c.key.in_(bindparam("keys", expanding=True)))


class AccessError(DockyardError):
    """A management request that cannot be done (bad name, unknown item, conflict)."""

    code = ErrorCode.DENIED

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, status=status)


@dataclass(frozen=True, slots=True)
class TokenPassword:
    slot: int
    password: str
    expires_at: float | None


def _check_name(kind: str, name: str) -> str:
    if not NAME_RE.fullmatch(name):
        also = " (or, for a user, an e-mail address or UPN)" if kind == "user" else ""
        raise AccessError(
            f"invalid {kind} name {name!r}: letters, digits, '.', '_', '-', at most 64{also}"
        )
    return name


class AccessService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        admin_username: str,
        max_failures_per_address: int = MAX_FAILURES_PER_ADDRESS,
    ) -> None:
        self._db = db
        self.audit = audit
        self.admin_username = admin_username
        self.max_failures_per_address = max_failures_per_address
        self._verified = VerifiedCache()
        self.run_identities = RunIdentities(db)

    # --- registry settings -------------------------------------------------------------------

    def setting(self, name: str, default: str) -> str:
        with self._db.read() as conn:
            row = conn.execute(
                select(registry_settings.c.value).where(registry_settings.c.name == name)
            ).first()
        return default if row is None else str(row[0])

    def set_setting(self, name: str, value: str, actor: str) -> None:
        with self._db.write() as conn:
            upsert(conn, registry_settings, {"name": name, "value": value}, ["name"], ["value"])
        self.audit.record("setting.change", actor, "ok", setting=name, value=value)

    @property
    def anonymous_pull(self) -> bool:
        return self.setting("anonymous_pull", "false") == "true"

    def set_anonymous_pull(self, enabled: bool, actor: str) -> None:
        """Turn anonymous pull on (only on a tier that offers it) or off."""
        with self._db.write() as conn:
            policies = load_policies(conn)
            if enabled and not policies.limits.anonymous_pull:
                raise Denied(
                    f"anonymous pull is not offered on the {policies.sku} tier "
                    "(Standard and Premium offer it)",
                    detail={"sku": policies.sku.value},
                )
            upsert(
                conn,
                registry_settings,
                {"name": "anonymous_pull", "value": "true" if enabled else "false"},
                ["name"],
                ["value"],
            )
        self.audit.record("setting.change", actor, "ok", setting="anonymous_pull", value=enabled)

    @property
    def admin_enabled(self) -> bool:
        return self.setting("admin_enabled", "false") == "true"

    # --- credentials -------------------------------------------------------------------------

    def _set_password(
        self, conn: Connection, principal: str, slot: int, expires_at: float | None = None
    ) -> str:
        password = generate_password()
        upsert(
            conn,
            credentials,
            {
                "principal": principal,
                "slot": slot,
                "password_hash": hash_password(password),
                "expires_at": expires_at,
                "created_at": time.time(),
            },
            ["principal", "slot"],
            ["password_hash", "expires_at", "created_at"],
        )
        return password

    def regenerate_admin_password(self, slot: int, actor: str) -> str:
        if slot not in (1, 2):
            raise AccessError("the admin user has passwords 1 and 2")
        with self._db.write() as conn:
            password = self._set_password(conn, "admin", slot)
            self._bump_admin_generation(conn)
        self.audit.record("credential.regenerate", actor, "ok", principal="admin", slot=slot)
        return password

    def enable_admin(self, enabled: bool, actor: str) -> dict[str, str]:
        """Turn the admin user on or off; turning it on creates missing passwords."""
        created: dict[str, str] = {}
        with self._db.write() as conn:
            upsert(
                conn,
                registry_settings,
                {"name": "admin_enabled", "value": "true" if enabled else "false"},
                ["name"],
                ["value"],
            )
            if not enabled:
                self._bump_admin_generation(conn)
            if enabled:
                existing = {
                    r[0]
                    for r in conn.execute(
                        select(credentials.c.slot).where(credentials.c.principal == "admin")
                    )
                }
                for slot in (1, 2):
                    if slot not in existing:
                        created[f"password{slot}"] = self._set_password(conn, "admin", slot)
        self.audit.record("admin.enable" if enabled else "admin.disable", actor, "ok")
        return created

    # --- authentication ----------------------------------------------------------------------

    def authenticate(self, username: str, password: str, client: str) -> Principal:
        """Check Basic credentials. Failures are counted per username and client address, and
        per client address across usernames (password spraying), and limited."""
        if len(username) > 256 or len(password) > 1024:
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
            self.audit.record("login", username, "denied", client=client)
            raise Unauthorized("invalid username or password")
        if checked:
            # Only when the password was checked, not remembered: a client that sends Basic
            # credentials with every request logs in once a minute per process, not each time.
            self.audit.record("login", principal.id, "ok", client=client)
        return principal

    def _match(self, username: str, password: str) -> tuple[Principal | None, bool]:
        """The principal whose password this is, and whether its hash was checked now (not
        remembered). Unknown, disabled and expired names cost the same password checks as a
        wrong password does (dummy hashes), so the time of a refusal does not tell whether
        the name exists."""
        now = time.time()
        candidate: Principal | None = None
        if username == self.admin_username:
            if self.admin_enabled:
                candidate = ADMIN
        else:
            with self._db.read() as conn:
                token = conn.execute(_TOKEN_STATUS, {"name": username}).first()
                user = None if token else conn.execute(_USER_STATUS, {"name": username}).first()
            if token is not None:
                candidate = Principal("token", username) if token[0] else None
            elif user is not None:
                candidate = Principal("user", username) if user[0] else None
        hashes: list[str] = []
        if candidate is not None:
            with self._db.read() as conn:
                rows = conn.execute(
                    select(credentials.c.password_hash, credentials.c.expires_at).where(
                        credentials.c.principal == candidate.id
                    )
                ).all()
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
            retry_after = float(started) + FAILURE_WINDOW_SECONDS - now
            if int(failures) >= limits[key] and retry_after > 0:
                raise TooManyRequests(
                    "too many failed logins; try again later",
                    headers={"Retry-After": str(int(retry_after) + 1)},
                )

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

    def generation(self, principal: Principal) -> str | None:
        """None when the principal is removed or disabled; otherwise its credential
        generation, which every token carries and which changes when the principal is
        deleted and created again, disabled, or its passwords are reset or regenerated.

        Read from the database every time, not cached: a disable or reset takes effect on
        the very next request in every server process (one primary-key read, prebuilt)."""
        if principal.kind == "anonymous":
            return "anonymous" if self.anonymous_pull else None
        if principal.kind == RUN_KIND:  # it must end with the run
            return self.run_identities.generation(principal.name, self.generation)
        if principal.kind == "admin":
            with self._db.read() as conn:
                values = dict(conn.execute(_ADMIN_STATUS).tuples().all())
            if values.get("admin_enabled") != "true":
                return None
            bumped = int(values.get(ADMIN_GENERATION, "0"))
            return "admin" if not bumped else f"admin/{bumped}"
        statement = _TOKEN_STATUS if principal.kind == "token" else _USER_STATUS
        with self._db.read() as conn:
            row = conn.execute(statement, {"name": principal.name}).first()
        if row is None or not row[0]:
            return None
        created = repr(float(row[1]))
        # Generation 0 is the creation time alone, as tokens issued before generations had.
        return created if not row[2] else f"{created}/{int(row[2])}"

    @staticmethod
    def _bump(conn: Connection, table: Any, name: str) -> None:
        conn.execute(
            update(table)
            .where(table.c.name == name)
            .values(credential_generation=table.c.credential_generation + 1)
        )

    @staticmethod
    def _bump_admin_generation(conn: Connection) -> None:
        row = conn.execute(
            select(registry_settings.c.value)
            .where(registry_settings.c.name == ADMIN_GENERATION)
            .with_for_update()
        ).first()
        bumped = str(int(row[0]) + 1 if row is not None else 1)
        upsert(
            conn,
            registry_settings,
            {"name": ADMIN_GENERATION, "value": bumped},
            ["name"],
            ["value"],
        )

    def is_active(self, principal: Principal) -> bool:
        return self.generation(principal) is not None

    # --- rights ------------------------------------------------------------------------------

    def rights(self, principal: Principal) -> Rights:
        if principal.kind == "admin":
            return Rights(
                (Grant("*", ALL_ACTIONS),), can_list_catalog=True, registry_actions=ALL_ACTIONS
            )
        if principal.kind == "anonymous":
            if not self.anonymous_pull:
                return Rights(())
            # ACR's anonymous pull: content, the catalog and metadata may be read, nothing more.
            return Rights((Grant("*", ANONYMOUS_ACTIONS),), can_list_catalog=True)
        if principal.kind == RUN_KIND:
            return self.run_identities.rights(principal.name, self.rights)
        if principal.kind == "token":
            with self._db.read() as conn:
                row = conn.execute(
                    select(tokens.c.scope_map).where(tokens.c.name == principal.name)
                ).first()
            if row is None:
                return Rights()
            actions = self._scope_map_actions(row[0])
            return Rights(tuple(parse_scope_map_action(a) for a in actions))
        with self._db.read() as conn:
            rows = conn.execute(
                select(role_assignments.c.role, role_assignments.c.scope).where(
                    role_assignments.c.principal == principal.name
                )
            ).all()
        role_grants = tuple(Grant(scope, ROLES[role]) for role, scope in rows if role in ROLES)
        registry_actions = frozenset().union(*(g.actions for g in role_grants if g.pattern == "*"))
        return Rights(role_grants, can_list_catalog=True, registry_actions=registry_actions)

    # --- users -------------------------------------------------------------------------------

    def create_user(self, name: str, kind: str, actor: str) -> str:
        if not EMAIL_NAME_RE.fullmatch(name):
            _check_name("user", name)
        if kind not in ("user", "service-principal"):
            raise AccessError("kind is user or service-principal")
        if name == self.admin_username:
            raise AccessError(f"{name!r} is the admin user's name", status=409)
        with self._db.write() as conn:
            if conn.execute(select(tokens.c.name).where(tokens.c.name == name)).first() is not None:
                raise AccessError(f"{name!r} is a token's name", status=409)
            if not insert_ignore(
                conn,
                users,
                {"name": name, "kind": kind, "enabled": True, "created_at": time.time()},
            ):
                raise AccessError(f"user {name!r} exists", status=409)
            password = self._set_password(conn, f"user:{name}", 1)
        self.audit.record("user.create", actor, "ok", user=name, kind=kind)
        return password

    def reset_user_password(self, name: str, actor: str) -> str:
        with self._db.write() as conn:
            self._require(conn, users, name, "user")
            password = self._set_password(conn, f"user:{name}", 1)
            self._bump(conn, users, name)
        self.audit.record("credential.regenerate", actor, "ok", principal=f"user:{name}")
        return password

    def set_user_enabled(self, name: str, enabled: bool, actor: str) -> None:
        with self._db.write() as conn:
            self._require(conn, users, name, "user")
            conn.execute(update(users).where(users.c.name == name).values(enabled=enabled))
            if not enabled:
                self._bump(conn, users, name)
        self.audit.record("user.enable" if enabled else "user.disable", actor, "ok", user=name)

    def delete_user(self, name: str, actor: str) -> None:
        with self._db.write() as conn:
            self._require(conn, users, name, "user")
            conn.execute(delete(users).where(users.c.name == name))
            conn.execute(delete(credentials).where(credentials.c.principal == f"user:{name}"))
            conn.execute(delete(role_assignments).where(role_assignments.c.principal == name))
        self.audit.record("user.delete", actor, "ok", user=name)

    def list_users(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(users.c.name, users.c.kind, users.c.enabled, users.c.created_at).order_by(
                    users.c.name
                )
            ).all()
        return [{"name": n, "kind": k, "enabled": bool(e), "created": c} for n, k, e, c in rows]

    # --- roles -------------------------------------------------------------------------------

    def assign_role(self, principal: str, role: str, scope: str, actor: str) -> None:
        if role not in ROLES:
            raise AccessError(f"unknown role {role!r}; roles: {', '.join(sorted(ROLES))}")
        self._check_pattern(scope)
        with self._db.write() as conn:
            self._require(conn, users, principal, "user")
            insert_ignore(
                conn,
                role_assignments,
                {"principal": principal, "role": role, "scope": scope, "created_at": time.time()},
            )
        self.audit.record("role.assign", actor, "ok", principal=principal, role=role, scope=scope)

    def remove_role(self, principal: str, role: str, scope: str, actor: str) -> None:
        with self._db.write() as conn:
            removed = conn.execute(
                delete(role_assignments).where(
                    role_assignments.c.principal == principal,
                    role_assignments.c.role == role,
                    role_assignments.c.scope == scope,
                )
            ).rowcount
        if not removed:
            raise AccessError("no such role assignment", status=404)
        self.audit.record("role.remove", actor, "ok", principal=principal, role=role, scope=scope)

    def list_roles(self, principal: str | None = None) -> list[dict[str, str]]:
        query = select(
            role_assignments.c.principal, role_assignments.c.role, role_assignments.c.scope
        )
        if principal:
            query = query.where(role_assignments.c.principal == principal)
        with self._db.read() as conn:
            rows = conn.execute(
                query.order_by(role_assignments.c.principal, role_assignments.c.role)
            ).all()
        return [{"principal": p, "role": r, "scope": s} for p, r, s in rows]

    @staticmethod
    def _check_pattern(scope: str) -> None:
        try:
            parse_scope_map_action(f"repositories/{scope}/content/read")
        except InvalidScopeMapAction as exc:
            raise AccessError(f"invalid scope {scope!r}: '*', a repository, or 'prefix/*'") from exc

    # --- scope maps --------------------------------------------------------------------------

    def _scope_map_actions(self, name: str) -> list[str]:
        if name in SYSTEM_SCOPE_MAPS:
            return [f"repositories/*/{a}" for a in SYSTEM_SCOPE_MAPS[name]]
        with self._db.read() as conn:
            row = conn.execute(
                select(scope_maps.c.actions).where(scope_maps.c.name == name)
            ).first()
        return [] if row is None else list(json.loads(row[0]))

    @staticmethod
    def _validate_actions(actions: list[str]) -> list[str]:
        if not actions:
            raise AccessError("a scope map needs at least one action")
        for action in actions:
            try:
                parse_scope_map_action(action)
            except InvalidScopeMapAction as exc:
                raise AccessError(str(exc)) from exc
        return sorted(set(actions))

    def create_scope_map(self, name: str, actions: list[str], description: str, actor: str) -> None:
        _check_name("scope map", name)
        if name.startswith("_"):
            raise AccessError("names starting with '_' are the system scope maps'")
        clean = self._validate_actions(actions)
        with self._db.write() as conn:
            check_tier_room(conn, "scope_maps")
            if not insert_ignore(
                conn,
                scope_maps,
                {
                    "name": name,
                    "description": description,
                    "actions": json.dumps(clean),
                    "created_at": time.time(),
                },
            ):
                raise AccessError(f"scope map {name!r} exists", status=409)
        self.audit.record("scope-map.create", actor, "ok", scope_map=name, actions=clean)

    def update_scope_map(
        self, name: str, add: list[str], remove: list[str], description: str | None, actor: str
    ) -> list[str]:
        if name in SYSTEM_SCOPE_MAPS:
            raise AccessError("system scope maps cannot be changed", status=409)
        with self._db.write() as conn:
            row = conn.execute(
                select(scope_maps.c.actions).where(scope_maps.c.name == name)
            ).first()
            if row is None:
                raise AccessError(f"scope map {name!r} not found", status=404)
            actions = (set(json.loads(row[0])) | set(add)) - set(remove)
            clean = self._validate_actions(sorted(actions))
            values: dict[str, object] = {"actions": json.dumps(clean)}
            if description is not None:
                values["description"] = description
            conn.execute(update(scope_maps).where(scope_maps.c.name == name).values(**values))
        self.audit.record("scope-map.update", actor, "ok", scope_map=name, actions=clean)
        return clean

    def delete_scope_map(self, name: str, actor: str) -> None:
        if name in SYSTEM_SCOPE_MAPS:
            raise AccessError("system scope maps cannot be deleted", status=409)
        with self._db.write() as conn:
            used = conn.execute(select(tokens.c.name).where(tokens.c.scope_map == name)).first()
            if used is not None:
                raise AccessError(f"scope map {name!r} is used by token {used[0]!r}", status=409)
            if not conn.execute(delete(scope_maps).where(scope_maps.c.name == name)).rowcount:
                raise AccessError(f"scope map {name!r} not found", status=404)
        self.audit.record("scope-map.delete", actor, "ok", scope_map=name)

    def list_scope_maps(self) -> list[dict[str, Any]]:
        found = [
            {
                "name": name,
                "description": "system scope map",
                "actions": [f"repositories/*/{a}" for a in actions],
                "system": True,
            }
            for name, actions in SYSTEM_SCOPE_MAPS.items()
        ]
        with self._db.read() as conn:
            rows = conn.execute(
                select(scope_maps.c.name, scope_maps.c.description, scope_maps.c.actions).order_by(
                    scope_maps.c.name
                )
            ).all()
        found += [
            {"name": n, "description": d, "actions": json.loads(a), "system": False}
            for n, d, a in rows
        ]
        return found

    # --- tokens ------------------------------------------------------------------------------

    def create_token(
        self, name: str, scope_map: str, enabled: bool, actor: str
    ) -> list[TokenPassword]:
        _check_name("token", name)
        if name == self.admin_username:
            raise AccessError(f"{name!r} is the admin user's name", status=409)
        if scope_map not in SYSTEM_SCOPE_MAPS:
            with self._db.read() as conn:
                if (
                    conn.execute(
                        select(scope_maps.c.name).where(scope_maps.c.name == scope_map)
                    ).first()
                    is None
                ):
                    raise AccessError(f"scope map {scope_map!r} not found", status=404)
        with self._db.write() as conn:
            if conn.execute(select(users.c.name).where(users.c.name == name)).first() is not None:
                raise AccessError(f"{name!r} is a user's name", status=409)
            check_tier_room(conn, "tokens")
            if not insert_ignore(
                conn,
                tokens,
                {
                    "name": name,
                    "scope_map": scope_map,
                    "enabled": enabled,
                    "created_at": time.time(),
                },
            ):
                raise AccessError(f"token {name!r} exists", status=409)
            passwords = [
                TokenPassword(slot, self._set_password(conn, f"token:{name}", slot), None)
                for slot in (1, 2)
            ]
        self.audit.record("token.create", actor, "ok", token=name, scope_map=scope_map)
        return passwords

    def generate_token_password(
        self, name: str, slot: int, expires_at: float | None, actor: str
    ) -> TokenPassword:
        if slot not in (1, 2):
            raise AccessError("a token has passwords 1 and 2")
        with self._db.write() as conn:
            self._require(conn, tokens, name, "token")
            password = self._set_password(conn, f"token:{name}", slot, expires_at)
            self._bump(conn, tokens, name)
        self.audit.record(
            "credential.regenerate", actor, "ok", principal=f"token:{name}", slot=slot
        )
        return TokenPassword(slot, password, expires_at)

    def set_token_enabled(self, name: str, enabled: bool, actor: str) -> None:
        with self._db.write() as conn:
            self._require(conn, tokens, name, "token")
            conn.execute(update(tokens).where(tokens.c.name == name).values(enabled=enabled))
            if not enabled:
                self._bump(conn, tokens, name)
        self.audit.record("token.enable" if enabled else "token.disable", actor, "ok", token=name)

    def delete_token(self, name: str, actor: str) -> None:
        with self._db.write() as conn:
            self._require(conn, tokens, name, "token")
            conn.execute(delete(tokens).where(tokens.c.name == name))
            conn.execute(delete(credentials).where(credentials.c.principal == f"token:{name}"))
        self.audit.record("token.delete", actor, "ok", token=name)

    def list_tokens(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(
                    tokens.c.name, tokens.c.scope_map, tokens.c.enabled, tokens.c.created_at
                ).order_by(tokens.c.name)
            ).all()
            expiry = {
                (p, s): e
                for p, s, e in conn.execute(
                    select(
                        credentials.c.principal, credentials.c.slot, credentials.c.expires_at
                    ).where(credentials.c.principal.like("token:%"))
                )
            }
        return [
            {
                "name": n,
                "scopeMap": m,
                "status": "enabled" if e else "disabled",
                "created": c,
                "passwords": [
                    {"name": f"password{slot}", "expiry": expiry[(f"token:{n}", slot)]}
                    for slot in (1, 2)
                    if (f"token:{n}", slot) in expiry
                ],
            }
            for n, m, e, c in rows
        ]

    # --- first start --------------------------------------------------------------------------

    def bootstrap_owner(self, name: str = "owner") -> str | None:
        """On a registry with no identity at all (its first start), create user `name` with
        the Owner role over the registry; returns its password, or None when anyone exists."""
        with self._db.read() as conn:
            anyone = (
                conn.execute(select(users.c.name).limit(1)).first()
                or conn.execute(select(tokens.c.name).limit(1)).first()
            )
        if anyone is not None or self.admin_enabled:
            return None
        password = self.create_user(name, "user", actor="bootstrap")
        self.assign_role(name, "Owner", "*", actor="bootstrap")
        return password

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _require(conn: Connection, table: Any, name: str, kind: str) -> None:
        if conn.execute(select(table.c.name).where(table.c.name == name)).first() is None:
            raise AccessError(f"{kind} {name!r} not found", status=404)

    def require_manage(self, principal: Principal, write: bool) -> None:
        needed = "manage_write" if write else "manage_read"
        if needed not in self.rights(principal).registry_actions:
            self.audit.record("manage", principal.id, "denied", needed=needed)
            raise Denied(
                f"{principal.id} may not {'change' if write else 'read'} registry settings"
            )


__all__ = ["ANONYMOUS", "AccessError", "AccessService", "TokenPassword"]
