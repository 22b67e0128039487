"""Uploaded build contexts: streamed to the blob driver, checked, stored content-addressed.

An upload is written to a key of its own while it is hashed and counted; once complete it is
checked as a tar archive (archive.py) and moved to `task-sources/<alg>/<2 hex>/<hex>` in the
transaction that records it, so a crash leaves at most an unreferenced file, never a row
without bytes. Sources no run has named for `ttl` are removed by the task worker.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select, update

from dockyard.errors import TooLarge
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import task_sources
from dockyard.storage.driver import BlobDriver, BlobWriter
from dockyard.tasks.archive import ArchiveSummary, SourceInvalid, validate

PREFIX = "task-sources"


def source_key(digest: str) -> str:
    algorithm, hex_part = digest.split(":", 1)
    return f"{PREFIX}/{algorithm}/{hex_part[:2]}/{hex_part}"


@dataclass
class SourceUpload:
    """One upload in progress."""

    key: str
    writer: BlobWriter
    limit: int
    written: int = 0
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.limit:
            raise TooLarge(f"the build context is larger than {self.limit} bytes")
        self.hasher.update(data)
        self.writer.write(data)
        self.written += len(data)


@dataclass(frozen=True, slots=True)
class StoredSource:
    digest: str
    size: int
    summary: ArchiveSummary


class SourceStore:
    def __init__(self, db: Database, driver: BlobDriver, max_bytes: int) -> None:
        self._db = db
        self._driver = driver
        self.max_bytes = max_bytes

    def open_upload(self) -> SourceUpload:
        key = f"{PREFIX}/uploads/{uuid.uuid4().hex}"
        return SourceUpload(key, self._driver.appender(key, 0), self.max_bytes)

    def discard(self, upload: SourceUpload) -> None:
        upload.writer.abort()
        self._driver.delete(upload.key)

    def commit(self, upload: SourceUpload) -> StoredSource:
        """Check the uploaded archive and store it under its digest."""
        try:
            upload.writer.close()
            summary = validate(self._driver.read(upload.key), self.max_bytes)
        except BaseException:
            self._driver.delete(upload.key)
            raise
        digest = "sha256:" + upload.hasher.hexdigest()
        key = source_key(digest)
        now = time.time()
        with self._db.write() as conn:
            inserted = insert_ignore(
                conn,
                task_sources,
                {"digest": digest, "size": upload.written, "created_at": now, "used_at": now},
            )
            if not inserted:
                conn.execute(
                    update(task_sources).where(task_sources.c.digest == digest).values(used_at=now)
                )
            if inserted or self._driver.size(key) is None:
                self._driver.move(upload.key, key)
            else:
                self._driver.delete(upload.key)
        return StoredSource(digest, upload.written, summary)

    def copy_to(self, digest: str, destination: Path) -> None:
        """Write the stored archive to a local file (the worker unpacks it from there)."""
        key = source_key(digest)
        if self._driver.size(key) is None:
            raise SourceInvalid(f"source {digest} is no longer stored; upload it again")
        with self._db.write() as conn:
            conn.execute(
                update(task_sources)
                .where(task_sources.c.digest == digest)
                .values(used_at=time.time())
            )
        with destination.open("wb") as out:
            for chunk in self._driver.read(key):
                out.write(chunk)

    def exists(self, digest: str) -> bool:
        with self._db.read() as conn:
            row = conn.execute(
                select(task_sources.c.digest).where(task_sources.c.digest == digest)
            ).first()
        return row is not None

    def sweep(self, ttl_seconds: float) -> int:
        """Remove sources no upload or run has named for `ttl_seconds`, and abandoned
        uploads."""
        cutoff = time.time() - ttl_seconds
        with self._db.read() as conn:
            stale = [
                str(r[0])
                for r in conn.execute(
                    select(task_sources.c.digest).where(task_sources.c.used_at < cutoff).limit(100)
                )
            ]
        removed = 0
        # Uploads a crash interrupted (an upload takes minutes, not a day).
        for key, _size, modified in list(self._driver.walk(f"{PREFIX}/uploads")):
            if modified < time.time() - 24 * 3600:
                self._driver.delete(key)
        for digest in stale:
            with self._db.write() as conn:
                # The condition again, under the row lock: an upload or a new run that named
                # the source meanwhile keeps it.
                gone = conn.execute(
                    delete(task_sources)
                    .where(task_sources.c.digest == digest, task_sources.c.used_at < cutoff)
                    .returning(task_sources.c.digest)
                ).first()
                if gone is not None:
                    self._driver.delete(source_key(digest))
                    removed += 1
        return removed
