"""Blobs: committing uploaded bytes, linking them into repositories, reading and unlinking."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, bindparam, delete, select, update

from dockyard.errors import BlobUnknown, NameUnknown
from dockyard.registry import locks
from dockyard.registry.names import check_name
from dockyard.registry.repositories import ensure_repository, repository_id
from dockyard.registry.usage import StorageLimit
from dockyard.spec.digest import Digest
from dockyard.storage.db.database import Database, insert_ignore, upsert
from dockyard.storage.db.schema import (
    blobs,
    manifests,
    repositories,
    repository_blobs,
    upload_sessions,
)
from dockyard.storage.driver import BlobDriver, blob_key

log = logging.getLogger("dockyard.registry")

# A link read this long ago is refreshed on the next HEAD/GET, so that a client that found the
# blob present and is about to reference it in a manifest is not racing garbage collection.
MAX_TOUCH_INTERVAL_SECONDS = 60.0


_BLOB_IN_REPOSITORY = (
    select(
        blobs.c.size,
        repository_blobs.c.touched_at,
        repository_blobs.c.repository_id,
        repositories.c.read_enabled,
    )
    .select_from(
        repository_blobs.join(
            repositories, repositories.c.id == repository_blobs.c.repository_id
        ).join(blobs, blobs.c.digest == repository_blobs.c.digest)
    )
    .where(
        repositories.c.name == bindparam("name"),
        repository_blobs.c.digest == bindparam("digest"),
    )
)
_BLOB_KNOWN = select(blobs.c.digest).where(blobs.c.digest == bindparam("digest"))
_DELETE_SESSION = delete(upload_sessions).where(upload_sessions.c.id == bindparam("session_id"))


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int
    key: str


class BlobService:
    def __init__(
        self, db: Database, driver: BlobDriver, gc_grace_seconds: float, limit: StorageLimit
    ) -> None:
        self._db = db
        self._driver = driver
        self.limit = limit
        self._touch_interval = min(MAX_TOUCH_INTERVAL_SECONDS, gc_grace_seconds / 4)

    def stat(self, name: str, digest: Digest) -> BlobInfo:
        """The blob as linked in repository `name`, or BlobUnknown; also when its bytes are
        missing or short in storage (one stat: every HEAD and GET pays it)."""
        check_name(name)
        text = str(digest)
        with self._db.read() as conn:
            row = conn.execute(_BLOB_IN_REPOSITORY, {"name": name, "digest": text}).first()
        if row is None:
            raise BlobUnknown(
                f"blob {text} unknown to repository {name!r}", detail={"digest": text}
            )
        locks.check_readable(name, text, row[3], None, None)
        size, touched_at, repo_id = int(row[0]), float(row[1]), int(row[2])
        if time.time() - touched_at > self._touch_interval and not self._touch(repo_id, text):
            raise BlobUnknown(
                f"blob {text} unknown to repository {name!r}", detail={"digest": text}
            )
        key = blob_key(text)
        if not self.intact(text, size):
            raise BlobUnknown(
                f"blob {text} is missing from storage; push it again", detail={"digest": text}
            )
        return BlobInfo(text, size, key)

    def intact(self, digest: str, size: int) -> bool:
        """Whether the bytes of a blob with a row are in storage at the recorded size; logs
        loudly when not (something outside the registry deleted or truncated the file)."""
        stored = self._driver.size(blob_key(digest))
        if stored == size:
            return True
        found = "no file" if stored is None else f"{stored} bytes"
        log.error(
            "blob %s: the database records %d bytes, storage has %s; it reads as unknown until "
            "it is pushed again (run `dockyard check` for the whole store)",
            digest,
            size,
            found,
        )
        return False

    def _touch(self, repo_id: int, digest: str) -> bool:
        """Refresh the link; False when garbage collection removed the blob meanwhile.

        The blob row is locked first (FOR SHARE), as GC locks it (FOR UPDATE) before deciding:
        either this touch commits first and GC sees it, or GC's deletion does and this finds
        the blob gone, so a client never hears "present" about a blob that is being deleted.
        """
        with self._db.write() as conn:
            alive = conn.execute(
                select(blobs.c.digest).where(blobs.c.digest == digest).with_for_update(read=True)
            ).first()
            if alive is None:
                return False
            touched = conn.execute(
                update(repository_blobs)
                .where(
                    repository_blobs.c.repository_id == repo_id, repository_blobs.c.digest == digest
                )
                .values(touched_at=time.time())
            ).rowcount
        return touched == 1

    def manifest_as_blob(self, name: str, digest: Digest) -> bytes:
        """Manifests are content too: a blob GET of a manifest digest returns its bytes."""
        with self._db.read() as conn:
            row = conn.execute(
                select(manifests.c.content, repositories.c.read_enabled, manifests.c.read_enabled)
                .select_from(
                    manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
                )
                .where(repositories.c.name == name, manifests.c.digest == str(digest))
            ).first()
        if row is None:
            raise BlobUnknown(
                f"blob {digest} unknown to repository {name!r}", detail={"digest": str(digest)}
            )
        locks.check_readable(name, str(digest), row[1], None, row[2])
        return bytes(row[0])

    def local_path(self, info: BlobInfo) -> Path | None:
        return self._driver.local_path(info.key)

    def read(self, info: BlobInfo, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        return self._driver.read(info.key, offset, length)

    def exists_anywhere(self, digest: Digest) -> bool:
        with self._db.read() as conn:
            return (
                conn.execute(select(blobs.c.size).where(blobs.c.digest == str(digest))).first()
                is not None
            )

    def mount(self, name: str, digest: Digest, source: str | None) -> bool:
        """Link an existing blob into `name`: from repository `source`, or from anywhere when
        no source is named. False when there is nothing to mount."""
        check_name(name)
        text = str(digest)
        with self._db.write() as conn:
            if source is not None:
                check_name(source)
                source_id = repository_id(conn, source)
                if source_id is None or not _readable(conn, source_id):
                    return False
                found = conn.execute(
                    select(repository_blobs.c.digest).where(
                        repository_blobs.c.repository_id == source_id,
                        repository_blobs.c.digest == text,
                    )
                ).first()
            else:
                found = conn.execute(select(blobs.c.digest).where(blobs.c.digest == text)).first()
            if found is None:
                return False
            # Lock the blob row so that GC cannot delete it under the new link.
            locked = conn.execute(
                select(blobs.c.size).where(blobs.c.digest == text).with_for_update(read=True)
            ).first()
            if locked is None or not self.intact(text, int(locked[0])):
                return False  # the client uploads instead, which brings the bytes back
            target_id = ensure_repository(conn, name)
            locks.check_writable(conn, name, target_id)
            link(conn, target_id, text)
        return True

    def commit(
        self, name: str, upload_key: str, digest: str, size: int, session_id: str | None = None
    ) -> None:
        """Make verified upload bytes the blob `digest` and link it into repository `name`.

        The bytes are in place before the row is visible; a crash in between leaves only an
        orphan file, which GC removes. A new blob's file is renamed into place before the
        write transaction, so that the fsyncs of concurrent uploads do not queue behind the
        database lock. That is safe because GC deletes only rows older than its grace period,
        and a row that did not exist a moment ago can only be new. A known blob's file is
        replaced inside the transaction, once the new link protects the row.
        """
        with self._db.read() as conn:
            known = conn.execute(_BLOB_KNOWN, {"digest": digest}).first()
            if known is None:
                self.limit.check(conn, size)
        moved = known is None
        if moved:
            self._driver.move(upload_key, blob_key(digest))
        with self._db.write() as conn:
            repo_id = ensure_repository(conn, name)
            created = insert_ignore(
                conn, blobs, {"digest": digest, "size": size, "created_at": time.time()}
            )
            if created:
                # Checked again, counted: refused here (a concurrent push took the room
                # meanwhile), bytes already moved stay an orphan file that GC removes, as
                # another upload of the same blob may be about to commit them.
                self.limit.check_added(conn, size)
            link(conn, repo_id, digest)
            if not moved:
                # GC removed the blob since we looked (these bytes take its place), or it is
                # known: the verified bytes replace the stored file all the same, which repairs
                # one deleted or damaged behind the registry. The link locks the row against
                # GC, so the bytes are not deleted under it.
                self._driver.move(upload_key, blob_key(digest))
            if session_id is not None:
                conn.execute(_DELETE_SESSION, {"session_id": session_id})

    def unlink(self, name: str, digest: Digest) -> None:
        """DELETE of a blob: remove its link from the repository."""
        check_name(name)
        text = str(digest)
        with self._db.write() as conn:
            repo_id = repository_id(conn, name)
            if repo_id is None:
                raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
            locks.check_writable(conn, name, repo_id, f"delete blob {text} from {name!r}")
            result = conn.execute(
                delete(repository_blobs).where(
                    repository_blobs.c.repository_id == repo_id, repository_blobs.c.digest == text
                )
            )
            if result.rowcount == 0:
                raise BlobUnknown(
                    f"blob {text} unknown to repository {name!r}", detail={"digest": text}
                )


def _readable(conn: Connection, repo_id: int) -> bool:
    row = conn.execute(
        select(repositories.c.read_enabled).where(repositories.c.id == repo_id)
    ).first()
    return row is not None and bool(row[0])


def link(conn: Connection, repo_id: int, digest: str) -> None:
    upsert(
        conn,
        repository_blobs,
        {"repository_id": repo_id, "digest": digest, "touched_at": time.time()},
        keys=["repository_id", "digest"],
        update=["touched_at"],
    )
