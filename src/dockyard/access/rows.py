"""Statements the access parts share: a named row that must exist, a principal's new
password, and the bump of a credential generation."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Table, select, update

from dockyard.access.passwords import generate_password, hash_password
from dockyard.errors import NotFound
from dockyard.storage.db.database import upsert
from dockyard.storage.db.schema import credentials


def require_named(conn: Connection, table: Table, name: str, kind: str) -> None:
    """NotFound unless `table` (users, tokens, scope maps) has a row called `name`."""
    if conn.execute(select(table.c.name).where(table.c.name == name)).first() is None:
        raise NotFound(f"{kind} {name!r} not found")


def set_password(
    conn: Connection, principal_id: str, slot: int, expires_at: float | None = None
) -> str:
    """Generate a password for `principal_id`'s `slot`, store its hash, return it."""
    password = generate_password()
    upsert(
        conn,
        credentials,
        {
            "principal": principal_id,
            "slot": slot,
            "password_hash": hash_password(password),
            "expires_at": expires_at,
            "created_at": time.time(),
        },
        ["principal", "slot"],
        ["password_hash", "expires_at", "created_at"],
    )
    return password


def bump_generation(conn: Connection, table: Table, name: str) -> None:
    """Invalidate every token issued to the user or token `name` (see PrincipalStatus)."""
    conn.execute(
        update(table)
        .where(table.c.name == name)
        .values(credential_generation=table.c.credential_generation + 1)
    )
