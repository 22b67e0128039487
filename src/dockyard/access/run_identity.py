"""The own identity of a task run (`run:<run id>`), which its steps and engines use instead of
the requester's: it may pull and push only in the repositories the run named, never more than
the requester may, and nothing of the management API. It holds only while the run is
Started or Running and its requester is still enabled: every use (Basic or Bearer on the
registry, the token service minting access tokens from it) reads the run's row, so the
credential stops working when the run ends, whatever ended it."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable

from sqlalchemy import delete, select

from dockyard.access.principals import Principal
from dockyard.access.rights import PULL, PUSH, Grant, Rights, repository_matches
from dockyard.storage.db.database import Database, upsert
from dockyard.storage.db.schema import task_run_identities, task_runs

RUN_KIND = "run"
# The statuses of a run that is going on (tasks.model's Started and Running).
ACTIVE_STATUSES = ("Started", "Running")
# A run's credential can do no more than pull and push.
RUN_ACTIONS = frozenset({PULL, PUSH})


def run_principal(run_id: str) -> Principal:
    return Principal(RUN_KIND, run_id)


def _common_pattern(first: str, second: str) -> str | None:
    """The repository pattern both patterns match (`*`, `a/*` or a name), if any."""
    if first == "*":
        return second
    if second == "*":
        return first
    first_prefix, second_prefix = first.endswith("/*"), second.endswith("/*")
    if not first_prefix and not second_prefix:
        return first if first == second else None
    if not first_prefix:
        return first if repository_matches(second, first) else None
    if not second_prefix:
        return second if repository_matches(first, second) else None
    if first[:-1].startswith(second[:-1]):
        return first
    if second[:-1].startswith(first[:-1]):
        return second
    return None


def intersect(wanted: Iterable[Grant], held: Rights) -> tuple[Grant, ...]:
    """What of `wanted` the rights `held` allow, as grants (pull and push at most)."""
    found: dict[str, set[str]] = {}
    for grant in wanted:
        for holding in held.grants:
            actions = grant.actions & holding.actions & RUN_ACTIONS
            pattern = _common_pattern(grant.pattern, holding.pattern)
            if actions and pattern is not None:
                found.setdefault(pattern, set()).update(actions)
    return tuple(Grant(p, frozenset(a)) for p, a in sorted(found.items()))


class RunIdentities:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, run_id: str, requester: Principal, held: Rights, wanted: Iterable[Grant]
    ) -> str:
        """Record the run's identity (its grants cut down to `held`, the requester's rights
        now); answers the generation its tokens must carry."""
        grants = intersect(wanted, held)
        generation = secrets.token_hex(16)
        row = {
            "run_id": run_id,
            "requester": requester.id,
            "grants": json.dumps(
                [{"pattern": g.pattern, "actions": sorted(g.actions)} for g in grants]
            ),
            "generation": generation,
            "created_at": time.time(),
        }
        with self._db.write() as conn:
            upsert(
                conn,
                task_run_identities,
                row,
                ["run_id"],
                ["requester", "grants", "generation", "created_at"],
            )
        return generation

    def revoke(self, run_id: str) -> None:
        with self._db.write() as conn:
            conn.execute(delete(task_run_identities).where(task_run_identities.c.run_id == run_id))

    def _active(self, run_id: str) -> tuple[str, str, str] | None:
        """(requester, grants JSON, generation) of a run that is going on."""
        with self._db.read() as conn:
            row = conn.execute(
                select(
                    task_run_identities.c.requester,
                    task_run_identities.c.grants,
                    task_run_identities.c.generation,
                )
                .select_from(
                    task_run_identities.join(
                        task_runs, task_runs.c.run_id == task_run_identities.c.run_id
                    )
                )
                .where(
                    task_run_identities.c.run_id == run_id,
                    task_runs.c.status.in_(ACTIVE_STATUSES),
                )
            ).first()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    def generation(
        self, run_id: str, requester_generation: Callable[[Principal], str | None]
    ) -> str | None:
        """None unless the run is going on and its requester is still enabled."""
        found = self._active(run_id)
        if found is None:
            return None
        requester, _, generation = found
        try:
            principal = Principal.from_id(requester)
        except ValueError:
            return None
        return generation if requester_generation(principal) is not None else None

    def rights(self, run_id: str, requester_rights: Callable[[Principal], Rights]) -> Rights:
        """The run's grants, within what its requester may do now; no catalog, no management."""
        found = self._active(run_id)
        if found is None:
            return Rights()
        requester, grants_json, _ = found
        try:
            principal = Principal.from_id(requester)
        except ValueError:
            return Rights()
        wanted = [
            Grant(str(entry["pattern"]), frozenset(str(a) for a in entry["actions"]))
            for entry in json.loads(grants_json)
        ]
        return Rights(intersect(wanted, requester_rights(principal)))
