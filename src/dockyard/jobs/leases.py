"""Named leases in the database, so that one process among many runs a periodic job."""

from __future__ import annotations

import time

from sqlalchemy import select

from dockyard.storage.db.database import Database, upsert
from dockyard.storage.db.schema import leases


def take_lease(db: Database, name: str, holder: str, seconds: float) -> bool:
    """Take or renew lease `name` for `holder`; False while another holder has it."""
    now = time.time()
    with db.write() as conn:
        row = conn.execute(
            select(leases.c.holder, leases.c.expires_at)
            .where(leases.c.name == name)
            .with_for_update()
        ).first()
        if row is not None and row[0] != holder and float(row[1]) > now:
            return False
        upsert(
            conn,
            leases,
            {"name": name, "holder": holder, "expires_at": now + seconds},
            keys=["name"],
            update=["holder", "expires_at"],
        )
    return True


def lease_expired(db: Database, name: str) -> bool:
    """Whether lease `name` is free (never taken, or run out): a read, no write lock."""
    with db.read() as conn:
        until = conn.execute(select(leases.c.expires_at).where(leases.c.name == name)).scalar()
    return until is None or float(until) <= time.time()
