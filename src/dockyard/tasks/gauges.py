"""The task runs not yet final, counted by status for `/metrics`."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from dockyard.storage.db.schema import task_runs
from dockyard.tasks.model import QUEUED, RUNNING, STARTED

# Series label -> status in the database.
RUN_STATES = {"queued": QUEUED, "started": STARTED, "running": RUNNING}

_RUNS_BY_STATUS = (
    select(task_runs.c.status, func.count())
    .where(task_runs.c.status.in_(list(RUN_STATES.values())))
    .group_by(task_runs.c.status)
)


def unfinished_runs(conn: Connection) -> dict[str, int]:
    """Series label -> runs in that status."""
    counts = {str(s): int(n) for s, n in conn.execute(_RUNS_BY_STATUS)}
    return {label: counts.get(status, 0) for label, status in RUN_STATES.items()}
