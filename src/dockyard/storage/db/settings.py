"""The rows of `registry_settings`: name and text value. What they mean is dockyard.tiers."""

from __future__ import annotations

from sqlalchemy import Connection, select

from dockyard.storage.db.database import upsert
from dockyard.storage.db.schema import registry_settings

_ALL_SETTINGS = select(registry_settings)


def read_settings(conn: Connection) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in conn.execute(_ALL_SETTINGS)}


def write_setting(conn: Connection, name: str, value: str) -> None:
    upsert(conn, registry_settings, {"name": name, "value": value}, ["name"], ["value"])
