"""The log store: a run's output in chunks, each with its byte offset in the whole log."""

from __future__ import annotations

from sqlalchemy import select, update

from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import task_run_logs, task_runs

# Past this, a run's further output is dropped (once noted in the log).
MAX_LOG_BYTES = 64 * 1024 * 1024
TRUNCATED = "\n[dockyard: the log exceeded its size limit; further output is not kept]\n"


class LogStore:
    def __init__(self, db: Database, max_bytes: int = MAX_LOG_BYTES) -> None:
        self._db = db
        self._max = max_bytes

    def append(self, run_id: str, text: str) -> int:
        """Add text at the end of the log; answers the log's size in bytes."""
        data = text.encode()
        with self._db.write() as conn:
            row = conn.execute(
                select(task_runs.c.log_size).where(task_runs.c.run_id == run_id).with_for_update()
            ).first()
            if row is None:
                return 0
            size = int(row[0])
            if not data or size >= self._max:
                return size
            truncated = size + len(data) > self._max
            if truncated:
                text = TRUNCATED
                data = text.encode()
            last = conn.execute(
                select(task_run_logs.c.seq)
                .where(task_run_logs.c.run_id == run_id)
                .order_by(task_run_logs.c.seq.desc())
                .limit(1)
            ).first()
            seq = 0 if last is None else int(last[0]) + 1
            conn.execute(
                task_run_logs.insert().values(run_id=run_id, seq=seq, start=size, text=text)
            )
            size += len(data)
            # A truncation note pushes the size past the limit, so nothing follows it.
            if truncated:
                size = max(size, self._max)
            conn.execute(
                update(task_runs).where(task_runs.c.run_id == run_id).values(log_size=size)
            )
        return size

    def read(self, run_id: str, offset: int = 0, limit: int = 4 * 1024 * 1024) -> bytes:
        """The log's bytes from `offset`, at most about `limit` of them."""
        with self._db.read() as conn:
            first = conn.execute(
                select(task_run_logs.c.seq)
                .where(task_run_logs.c.run_id == run_id, task_run_logs.c.start <= offset)
                .order_by(task_run_logs.c.seq.desc())
                .limit(1)
            ).first()
            query = (
                select(task_run_logs.c.start, task_run_logs.c.text)
                .where(task_run_logs.c.run_id == run_id)
                .order_by(task_run_logs.c.seq)
            )
            if first is not None:
                query = query.where(task_run_logs.c.seq >= first[0])
            parts: list[bytes] = []
            taken = 0
            for start, text in conn.execute(query):
                data = text.encode()
                skip = max(0, offset - int(start))
                if skip >= len(data):
                    continue
                parts.append(data[skip:])
                taken += len(data) - skip
                if taken >= limit:
                    break
        return b"".join(parts)
