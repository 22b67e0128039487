"""Engine set-up and transactions for SQLite (WAL, one writer at a time) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool


class Database:
    """Owns the engine; `write()` and `read()` open one transaction each."""

    def __init__(self, url: str, pool_size: int = 8) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(
                url,
                connect_args={"timeout": 60, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=16,
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            # pysqlite's own transaction handling is off (isolation_level=None in on_connect);
            # we issue BEGIN ourselves so that writers take the lock up front.
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=16, pool_pre_ping=True
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.info["dockyard_write"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("dockyard_write", None)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.info.get("dockyard_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def null_pool_engine(url: str) -> Engine:
    """A short-lived engine for migrations and one-off commands."""
    return create_engine(url, poolclass=NullPool)


def insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when a row was inserted.

    On PostgreSQL this waits for a concurrent transaction that deletes the same key, which is
    what keeps blob commits and garbage collection from racing.
    """
    # RETURNING rather than rowcount: psycopg reports -1 for INSERT .. ON CONFLICT DO NOTHING.
    key = next(iter(table.primary_key.columns))
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).values(**values).on_conflict_do_nothing().returning(key)
        return conn.execute(stmt).first() is not None
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(lite).first() is not None


def upsert(
    conn: Connection, table: Any, values: dict[str, Any], keys: list[str], update: list[str]
) -> None:
    """Insert, or update `update` columns of the row with the same `keys`."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg_stmt = pg_insert(table).values(**values)
        conn.execute(
            pg_stmt.on_conflict_do_update(
                index_elements=keys, set_={c: pg_stmt.excluded[c] for c in update}
            )
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite_stmt = sqlite_insert(table).values(**values)
        conn.execute(
            lite_stmt.on_conflict_do_update(
                index_elements=keys, set_={c: lite_stmt.excluded[c] for c in update}
            )
        )


def sort_key(conn: Connection, column: Any) -> Any:
    """Byte-wise ordering of text, as the distribution spec's lexical order asks for."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column
