"""Scope maps: the actions on repositories a token is given, the system ones included."""

from __future__ import annotations

import json
import time

from sqlalchemy import delete, select, update

from dockyard.access.audit import AuditLog
from dockyard.access.model import ScopeMap
from dockyard.access.names import check_name
from dockyard.access.rights import SYSTEM_SCOPE_MAPS, InvalidScopeMapAction, parse_scope_map_action
from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import scope_maps, tokens
from dockyard.tiers.limits import check_tier_room

SYSTEM_DESCRIPTION = "system scope map"


def _system_actions(name: str) -> tuple[str, ...]:
    return tuple(f"repositories/*/{action}" for action in SYSTEM_SCOPE_MAPS[name])


def _validate_actions(actions: list[str]) -> list[str]:
    if not actions:
        raise Invalid("a scope map needs at least one action")
    for action in actions:
        try:
            parse_scope_map_action(action)
        except InvalidScopeMapAction as exc:
            raise Invalid(str(exc)) from exc
    return sorted(set(actions))


class ScopeMaps:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def actions(self, name: str) -> tuple[str, ...]:
        """The actions of scope map `name`; none when it does not exist."""
        if name in SYSTEM_SCOPE_MAPS:
            return _system_actions(name)
        with self._db.read() as conn:
            row = conn.execute(
                select(scope_maps.c.actions).where(scope_maps.c.name == name)
            ).first()
        return () if row is None else tuple(json.loads(row[0]))

    def exists(self, name: str) -> bool:
        if name in SYSTEM_SCOPE_MAPS:
            return True
        with self._db.read() as conn:
            found = conn.execute(select(scope_maps.c.name).where(scope_maps.c.name == name))
            return found.first() is not None

    def create(self, name: str, actions: list[str], description: str, actor: str) -> ScopeMap:
        check_name("scope map", name)
        if name.startswith("_"):
            raise Invalid("names starting with '_' are the system scope maps'")
        clean = _validate_actions(actions)
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
                raise Conflict(f"scope map {name!r} exists")
        self._audit.record("scope-map.create", actor, "ok", scope_map=name, actions=clean)
        return ScopeMap(name, description, tuple(clean), system=False)

    def update(
        self, name: str, add: list[str], remove: list[str], description: str | None, actor: str
    ) -> ScopeMap:
        """Add and remove actions, or change the description; tokens follow at once."""
        if name in SYSTEM_SCOPE_MAPS:
            raise Conflict("system scope maps cannot be changed")
        with self._db.write() as conn:
            row = conn.execute(
                select(scope_maps.c.actions, scope_maps.c.description).where(
                    scope_maps.c.name == name
                )
            ).first()
            if row is None:
                raise NotFound(f"scope map {name!r} not found")
            actions = (set(json.loads(row[0])) | set(add)) - set(remove)
            clean = _validate_actions(sorted(actions))
            values: dict[str, object] = {"actions": json.dumps(clean)}
            if description is not None:
                values["description"] = description
            conn.execute(update(scope_maps).where(scope_maps.c.name == name).values(**values))
        self._audit.record("scope-map.update", actor, "ok", scope_map=name, actions=clean)
        kept = row[1] if description is None else description
        return ScopeMap(name, kept, tuple(clean), system=False)

    def delete(self, name: str, actor: str) -> None:
        """Delete a scope map no token uses."""
        if name in SYSTEM_SCOPE_MAPS:
            raise Conflict("system scope maps cannot be deleted")
        with self._db.write() as conn:
            used = conn.execute(select(tokens.c.name).where(tokens.c.scope_map == name)).first()
            if used is not None:
                raise Conflict(f"scope map {name!r} is used by token {used[0]!r}")
            if not conn.execute(delete(scope_maps).where(scope_maps.c.name == name)).rowcount:
                raise NotFound(f"scope map {name!r} not found")
        self._audit.record("scope-map.delete", actor, "ok", scope_map=name)

    def get(self, name: str) -> ScopeMap:
        if name in SYSTEM_SCOPE_MAPS:
            return ScopeMap(name, SYSTEM_DESCRIPTION, _system_actions(name), system=True)
        with self._db.read() as conn:
            row = conn.execute(
                select(scope_maps.c.description, scope_maps.c.actions).where(
                    scope_maps.c.name == name
                )
            ).first()
        if row is None:
            raise NotFound(f"scope map {name!r} not found")
        return ScopeMap(name, row[0], tuple(json.loads(row[1])), system=False)

    def all(self) -> list[ScopeMap]:
        """The system scope maps first, then the others by name."""
        found = [
            ScopeMap(name, SYSTEM_DESCRIPTION, _system_actions(name), system=True)
            for name in SYSTEM_SCOPE_MAPS
        ]
        with self._db.read() as conn:
            rows = conn.execute(
                select(scope_maps.c.name, scope_maps.c.description, scope_maps.c.actions).order_by(
                    scope_maps.c.name
                )
            ).all()
        found += [ScopeMap(n, d, tuple(json.loads(a)), system=False) for n, d, a in rows]
        return found
