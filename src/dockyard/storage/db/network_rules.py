"""The rows behind network rules: the allowed ranges, and the generation that every change
of them or of the default action (a tiers setting) replaces, which lets each process keep
them cached exactly."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import Connection, delete, func, select

from dockyard.storage.db.database import Database, insert_ignore, upsert
from dockyard.storage.db.schema import network_rules, registry_settings

GENERATION_SETTING = "network_rules_generation"

# Read on every request the network rules guard, on a pooled DBAPI connection: one
# statement, no SQLAlchemy transaction around it, which costs several times the query.
# The name is a constant of this module, never input.
_GENERATION_SQL = f"SELECT value FROM registry_settings WHERE name = '{GENERATION_SETTING}'"
_RANGES = select(network_rules.c.ip_range).order_by(
    network_rules.c.created_at, network_rules.c.ip_range
)
_COUNT = select(func.count()).select_from(network_rules)


def read_generation(db: Database) -> str:
    """The current generation; empty when network rules were never changed."""
    conn = db.engine.raw_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(_GENERATION_SQL)
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        conn.close()  # back to the pool, which ends the read
    return "" if row is None else str(row[0])


def new_generation(conn: Connection) -> None:
    """Call in every transaction that changes the rules or the default action. A random
    value, not a counter: two changes can never leave the same generation behind."""
    upsert(
        conn,
        registry_settings,
        {"name": GENERATION_SETTING, "value": secrets.token_hex(12)},
        ["name"],
        ["value"],
    )


def read_ranges(conn: Connection) -> list[str]:
    """The allowed ranges, oldest first."""
    return [str(row[0]) for row in conn.execute(_RANGES)]


def count_ranges(conn: Connection) -> int:
    return int(conn.execute(_COUNT).scalar_one())


def add_range(conn: Connection, ip_range: str) -> bool:
    """True when the range is new."""
    return insert_ignore(conn, network_rules, {"ip_range": ip_range, "created_at": time.time()})


def remove_range(conn: Connection, ip_range: str) -> bool:
    """True when there was such a range."""
    done = conn.execute(delete(network_rules).where(network_rules.c.ip_range == ip_range))
    return bool(done.rowcount)
