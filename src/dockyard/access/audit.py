"""The audit log: one JSON line per recorded decision, login and change, in
`<data dir>/audit.log`, rotated to `audit.log.1` (newest) .. `audit.log.<backups>` (oldest).

Every server process appends to the same file. Each line is one `write` on a descriptor opened
with O_APPEND, so lines of different processes never interleave. Before each line a process
compares the file at the path with the one it has open (inode) and reopens when another
process rotated it. A rotation (the file would pass `max_bytes`, or its first record is a
quarter of `max_age_seconds` old) holds an exclusive `flock` on `audit.log.lock`, checks the
condition again on the file now at the path (another process may have rotated it already),
and renames the files one place down; the oldest beyond `backups`, and rotated files whose
first record is older than `max_age_seconds`, are deleted. A line a process appends to a
file that was just renamed lands in `audit.log.1`: late, never lost. Readers take the lock
shared, so they see the files between rotations.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READ_BLOCK = 64 * 1024
# How often a process that writes looks for rotated files past the age (besides rotations).
PRUNE_INTERVAL_SECONDS = 3600.0
# Methods that change nothing: allowed requests with them are recorded only when reads are.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class AuditRetention:
    max_bytes: int = 16 * 1024 * 1024
    backups: int = 10
    # 0: no limit of age.
    max_age_seconds: float = 90 * 24 * 3600.0

    @property
    def rotate_after_seconds(self) -> float:
        """The current file is rotated once its first record is this old, so that rotated
        files can be deleted whole when their first record reaches the age limit: every
        record is kept between three quarters of the limit and the limit."""
        return self.max_age_seconds / 4


@dataclass(slots=True)
class _OpenFile:
    fd: int
    inode: int
    pid: int
    first_ts: float | None


class AuditLog:
    def __init__(
        self,
        path: Path | None,
        retention: AuditRetention | None = None,
        record_reads: bool = False,
    ) -> None:
        self.path = path
        self.retention = retention or AuditRetention()
        self.record_reads = record_reads
        self._open: _OpenFile | None = None
        # Threads of one process share the descriptor: one reopens it only while no other
        # writes through it.
        self._lock = threading.Lock()
        self._next_prune = 0.0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._exclusive():
                self._prune(time.time())
            self._next_prune = time.time() + PRUNE_INTERVAL_SECONDS

    def records(self, method: str) -> bool:
        """Whether an allowed request with this method is recorded (changes always are)."""
        return self.record_reads or method.upper() not in READ_METHODS

    def record(self, event: str, actor: str, outcome: str, **detail: Any) -> None:
        if self.path is None:
            return
        now = time.time()
        entry = {"ts": round(now, 3), "event": event, "actor": actor, "outcome": outcome}
        entry.update({k: v for k, v in detail.items() if v is not None})
        line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            current = self._current(self.path)
            if self._due(current, len(line), now):
                with self._exclusive():
                    self._rotate_if_due(self.path, len(line), now)
                current = self._current(self.path)
            elif now >= self._next_prune:
                with self._exclusive():
                    self._prune(now)
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_INTERVAL_SECONDS
            if current.first_ts is None:
                current.first_ts = now
            os.write(current.fd, line)

    # --- writing -----------------------------------------------------------------------------

    def _current(self, path: Path) -> _OpenFile:
        """The descriptor of the file now at `path` (reopened after a rotation or a fork)."""
        current = self._open
        if current is not None and current.pid == os.getpid():
            try:
                if os.stat(path).st_ino == current.inode:
                    return current
            except FileNotFoundError:
                pass
            os.close(current.fd)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._open = _OpenFile(fd, os.fstat(fd).st_ino, os.getpid(), _first_ts(path))
        return self._open

    def _due(self, current: _OpenFile, incoming: int, now: float) -> bool:
        """Whether the open file is to be rotated before `incoming` more bytes (an empty file
        never is, so a record larger than the limit is still written whole)."""
        size = os.fstat(current.fd).st_size
        if size == 0:
            return False
        if size + incoming > self.retention.max_bytes:
            return True
        after = self.retention.rotate_after_seconds
        return bool(after) and current.first_ts is not None and now - current.first_ts >= after

    def _rotate_if_due(self, path: Path, incoming: int, now: float) -> None:
        """Under the exclusive lock: rotate the file now at `path` if it is still due."""
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return
        first = _first_ts(path)
        after = self.retention.rotate_after_seconds
        aged = bool(after) and first is not None and now - first >= after
        if size == 0 or (size + incoming <= self.retention.max_bytes and not aged):
            return  # another process rotated it first
        for number in reversed(_backup_numbers(path)):
            if number < self.retention.backups:
                os.rename(_backup(path, number), _backup(path, number + 1))
        os.rename(path, _backup(path, 1))
        self._prune(now)

    def _prune(self, now: float) -> None:
        """Under the exclusive lock: delete rotated files beyond the count or past the age;
        a current file whose first record is past the age is rotated first."""
        assert self.path is not None
        path = self.path
        limit = self.retention.max_age_seconds
        first = _first_ts(path)
        if limit and first is not None and now - first >= limit:
            self._rotate_if_due(path, 0, now)
        for number in reversed(_backup_numbers(path)):
            backup = _backup(path, number)
            first = _first_ts(backup)
            too_old = bool(limit) and first is not None and now - first >= limit
            if number > self.retention.backups or too_old:
                with contextlib.suppress(FileNotFoundError):
                    backup.unlink()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with _flock(self._lock_path(), fcntl.LOCK_EX):
            yield

    def _lock_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".lock")

    # --- reading -----------------------------------------------------------------------------

    def read(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The last `limit` entries, oldest first, reading from the end of the current file
        and then of the rotated ones, newest first."""
        if self.path is None or limit <= 0:
            return []
        newest_first: list[list[bytes]] = []
        wanted = limit
        with _flock(self._lock_path(), fcntl.LOCK_SH):
            number = 0
            while wanted > 0:
                try:
                    lines = _tail(_backup(self.path, number), wanted)
                except FileNotFoundError:
                    if number > 0:
                        break
                    lines = []
                newest_first.append(lines)
                wanted -= len(lines)
                number += 1
        lines = [line for chunk in reversed(newest_first) for line in chunk]
        return [json.loads(line) for line in lines[-limit:]]


def _backup(path: Path, number: int) -> Path:
    return path if number == 0 else path.with_name(f"{path.name}.{number}")


def _backup_numbers(path: Path) -> list[int]:
    """The numbers of the rotated files there are, in order."""
    prefix = path.name + "."
    return sorted(
        int(name[len(prefix) :])
        for name in os.listdir(path.parent)
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    )


def _first_ts(path: Path) -> float | None:
    """The time of the file's first record; its modification time if that line is not
    readable; None when there is no file or it is empty."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(READ_BLOCK)
            if not first:
                return None
            try:
                return float(json.loads(first)["ts"])
            except (ValueError, KeyError, TypeError):
                return os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError:
        return None


def _tail(path: Path, limit: int) -> list[bytes]:
    """The last `limit` whole lines of the file, oldest first."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        tail = b""
        while position > 0 and tail.count(b"\n") <= limit:
            step = min(READ_BLOCK, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
    lines = [line for line in tail.splitlines() if line.strip()]
    if position > 0:
        lines = lines[1:]  # the first line may be cut
    return lines[-limit:]


@contextlib.contextmanager
def _flock(path: Path, operation: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)
