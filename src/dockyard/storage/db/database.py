"""Engine set-up and transactions for SQLite (WAL, one writer at a time) and PostgreSQL."""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from dockyard.errors import StorageError, StorageFull, StorageUnavailable


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
            self._writer_queue: _WriterQueue | None = _WriterQueue(sqlite_path(url))
        else:
            self._writer_queue = None
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=16, pool_pre_ping=True
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._writer_queue is None:
            with self._write() as conn:
                yield conn
            return
        with self._writer_queue, self._write() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.info["dockyard_write"] = True
            try:
                with conn.begin():
                    yield conn
            except OperationalError as exc:
                fault = storage_fault(exc)
                if fault is None:
                    raise
                raise fault from exc
            finally:
                conn.info.pop("dockyard_write", None)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


# SQLSTATEs of PostgreSQL: disk_full, read_only_sql_transaction.
_PG_FULL, _PG_READ_ONLY = "53100", "25006"


def storage_fault(exc: OperationalError) -> StorageError | None:
    """The database's "disk full" and "read-only" failures, as the storage errors they are:
    conditions an operator fixes, which the next write recovers from by itself."""
    cause = exc.orig
    text = str(cause).lower()
    state = getattr(cause, "sqlstate", None)
    if state == _PG_FULL or "database or disk is full" in text:
        return StorageFull("storage is full: the database cannot grow; retry once space is freed")
    if state == _PG_READ_ONLY or "readonly database" in text:
        return StorageUnavailable("storage is not writable: the database is read-only")
    return None


class _WriterQueue:
    """Lines up SQLite writers of every thread and process in the kernel.

    SQLite's own busy handler polls with sleeps of up to 100 ms, which starves concurrent
    writers; a blocking lock (a mutex in the process, flock across processes) wakes the next
    writer as soon as the previous one commits.
    """

    def __init__(self, database_file: Path | None) -> None:
        self._mutex = threading.Lock()
        self._lock_path = None if database_file is None else Path(f"{database_file}.writer-lock")
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._mutex.acquire()
        if self._lock_path is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL, or None for an in-memory database."""
    path = url.split("///", 1)[1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


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


def unreachable_reason(url: str) -> str | None:
    """Why the database server at `url` cannot be reached, or None when it can. Commands
    ask once before they start, so that a wrong address or password reads as one line and
    not as a traceback from deep inside a migration. SQLite is not asked: opening a missing
    file would create it."""
    if url.startswith("sqlite"):
        return None
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        return " ".join(str(exc.orig).split())
    finally:
        engine.dispose()


def printable_url(url: str) -> str:
    """The database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def null_pool_engine(url: str) -> Engine:
    """A short-lived engine for migrations and one-off commands."""
    return create_engine(url, poolclass=NullPool)


def insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when a row was inserted.

    On PostgreSQL this waits for a concurrent transaction that deletes the same key, which is
    what keeps blob commits and garbage collection from racing.
    """
    # RETURNING rather than rowcount: psycopg reports -1 for INSERT .. ON CONFLICT DO NOTHING.
    stmt = _insert_ignore_statement(conn.dialect.name, table)
    return conn.execute(stmt, values).first() is not None


def upsert(
    conn: Connection, table: Any, values: dict[str, Any], keys: list[str], update: list[str]
) -> None:
    """Insert, or update `update` columns of the row with the same `keys`."""
    conn.execute(_upsert_statement(conn.dialect.name, table, tuple(keys), tuple(update)), values)


# The statements are built once: building one costs more than running it on SQLite, and a
# statement object that is used again keeps its compiled form in SQLAlchemy's cache.
@functools.cache
def _insert_ignore_statement(dialect: str, table: Any) -> Any:
    key = next(iter(table.primary_key.columns))
    return _dialect_insert(dialect, table).on_conflict_do_nothing().returning(key)


@functools.cache
def _upsert_statement(
    dialect: str, table: Any, keys: tuple[str, ...], update: tuple[str, ...]
) -> Any:
    stmt = _dialect_insert(dialect, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
    )


def _dialect_insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def sort_key(conn: Connection, column: Any) -> Any:
    """Byte-wise ordering of text, as the distribution spec's lexical order asks for."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column
