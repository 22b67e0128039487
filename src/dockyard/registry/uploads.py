"""Blob upload sessions (OCI distribution-spec 1.1, 'Pushing blobs').

A session is a database row plus bytes under `uploads/<id>` in storage, so any server process
can continue it and it survives a restart. The sha256 state of a session is cached in the
process that received the last chunk; another process re-hashes the stored bytes instead.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, or_, select, update

from dockyard.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    Denied,
    DigestInvalid,
    RangeInvalid,
    UploadProgress,
)
from dockyard.registry import locks
from dockyard.registry.blobs import BlobService
from dockyard.registry.names import check_name
from dockyard.registry.repositories import repository_id
from dockyard.spec.digest import Digest, Hasher, new_hasher
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import upload_sessions
from dockyard.storage.driver import BlobDriver, BlobWriter, upload_key


@dataclass(frozen=True, slots=True)
class UploadSession:
    id: str
    repository: str
    size: int

    @property
    def progress(self) -> UploadProgress:
        return UploadProgress(self.repository, self.id, self.size)


class _HashCache:
    """sha256 states of recent sessions, keyed by session id and the size they cover."""

    def __init__(self, capacity: int = 256) -> None:
        self._states: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def take(self, upload_id: str, size: int, algorithm: str) -> Hasher | None:
        with self._lock:
            entry = self._states.pop(upload_id, None)
        if entry is None or entry[0] != size or entry[1].name != algorithm:
            return None
        return entry[1]

    def put(self, upload_id: str, size: int, hasher: Hasher) -> None:
        with self._lock:
            self._states[upload_id] = (size, hasher)
            while len(self._states) > self._capacity:
                self._states.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        with self._lock:
            self._states.pop(upload_id, None)


LEASE_SECONDS = 30.0

# Statements built once (see database.insert_ignore).
_INSERT_SESSION = upload_sessions.insert()
_SESSION_SIZE = select(upload_sessions.c.size).where(
    upload_sessions.c.id == bindparam("upload_id"),
    upload_sessions.c.repository == bindparam("name"),
)
# The session at the size the request saw, with no live lease.
_SESSION_FREE = (
    (upload_sessions.c.id == bindparam("upload_id"))
    & (upload_sessions.c.size == bindparam("seen_size"))
    & or_(upload_sessions.c.lease_until.is_(None), upload_sessions.c.lease_until < bindparam("now"))
)
_CLAIM = (
    update(upload_sessions)
    .where(_SESSION_FREE)
    .values(writer=bindparam("token"), lease_until=bindparam("until"))
)
_ADOPT = (
    update(upload_sessions)
    .where(_SESSION_FREE)
    .values(size=bindparam("new_size"), updated_at=bindparam("now"))
)
_ADOPT_AND_CLAIM = _ADOPT.values(writer=bindparam("token"), lease_until=bindparam("until"))
RENEW_AFTER_SECONDS = 10.0


class SessionLease:
    """One request's exclusive right to write a session, renewed while bytes keep coming."""

    def __init__(self, db: Database, upload_id: str, token: str) -> None:
        self._db = db
        self.upload_id = upload_id
        self.token = token
        self._renewed = time.monotonic()

    def keep(self) -> None:
        """Renew when due; raises RangeInvalid when another request took the session over."""
        if time.monotonic() - self._renewed < RENEW_AFTER_SECONDS:
            return
        with self._db.write() as conn:
            renewed = conn.execute(
                update(upload_sessions)
                .where(
                    upload_sessions.c.id == self.upload_id, upload_sessions.c.writer == self.token
                )
                .values(lease_until=time.time() + LEASE_SECONDS)
            ).rowcount
        if renewed != 1:
            raise RangeInvalid("the upload was taken over by another request")
        self._renewed = time.monotonic()

    def release(self, new_size: int | None = None, keep: bool = False) -> bool:
        """Record the new size and give the session up (or keep it, to finish the upload)."""
        values: dict[str, object] = {"updated_at": time.time()}
        if not keep:
            values.update(writer=None, lease_until=None)
        if new_size is not None:
            values["size"] = new_size
        with self._db.write() as conn:
            return (
                conn.execute(
                    update(upload_sessions)
                    .where(
                        upload_sessions.c.id == self.upload_id,
                        upload_sessions.c.writer == self.token,
                    )
                    .values(**values)
                ).rowcount
                == 1
            )


class ChunkWriter:
    """Receives the bytes of one request into a session, hashing them on the way."""

    def __init__(
        self,
        writer: BlobWriter,
        hasher: Hasher | None,
        start: int,
        lease: SessionLease | None,
        private_key: str | None = None,
    ) -> None:
        self._writer = writer
        self._hasher = hasher
        self.start = start
        self.written = 0
        self.lease = lease
        # The first chunk of a session goes to a key of its own, taken over only if the session
        # is still empty when the chunk is complete: no lease needed.
        self.private_key = private_key

    def write(self, data: bytes) -> None:
        if self.lease is not None:
            self.lease.keep()
        if self._hasher is not None:
            self._hasher.update(data)
        self._writer.write(data)
        self.written += len(data)

    def close(self) -> int:
        return self._writer.close()

    def abort(self) -> None:
        self._writer.abort()
        if self.lease is not None:
            self.lease.release()
        self.lease = None

    @property
    def hasher(self) -> Hasher | None:
        return self._hasher


class UploadService:
    def __init__(self, db: Database, driver: BlobDriver, blobs: BlobService) -> None:
        self._db = db
        self._driver = driver
        self._blobs = blobs
        self._hashes = _HashCache()

    def start(self, name: str) -> UploadSession:
        check_name(name)
        self.check_writable(name)
        session = UploadSession(str(uuid.uuid4()), name, 0)
        self._driver.appender(upload_key(session.id), 0).close()
        now = time.time()
        with self._db.write() as conn:
            row = {"id": session.id, "repository": name, "size": 0}
            conn.execute(_INSERT_SESSION, {**row, "created_at": now, "updated_at": now})
        return session

    def get(self, name: str, upload_id: str) -> UploadSession:
        check_name(name)
        try:
            uuid.UUID(upload_id)
        except ValueError:
            raise BlobUploadUnknown(f"upload {upload_id!r} unknown") from None
        with self._db.read() as conn:
            row = conn.execute(_SESSION_SIZE, {"upload_id": upload_id, "name": name}).first()
        if row is None:
            raise BlobUploadUnknown(f"upload {upload_id!r} unknown", detail={"uuid": upload_id})
        return UploadSession(upload_id, name, int(row[0]))

    def _claim(self, session: UploadSession, finishing: bool = False) -> SessionLease:
        """Take the session for one request, at the size this request saw."""
        token = uuid.uuid4().hex
        now = time.time()
        claim = {
            "upload_id": session.id,
            "seen_size": session.size,
            "now": now,
            "token": token,
            "until": now + LEASE_SECONDS,
        }
        with self._db.write() as conn:
            claimed = conn.execute(_CLAIM, claim).rowcount
        if claimed != 1:
            current = self.get(session.repository, session.id)  # BlobUploadUnknown when gone
            message = "the upload is being written by another request"
            if finishing:
                raise BlobUploadInvalid(message, progress=current.progress)
            raise RangeInvalid(message, progress=current.progress)
        return SessionLease(self._db, session.id, token)

    def open_chunk(
        self, session: UploadSession, start: int | None, algorithm: str = "sha256"
    ) -> ChunkWriter:
        """Begin appending; `start` is the chunk's Content-Range start when the client sent one,
        `algorithm` the digest algorithm the bytes will be checked with, when known."""
        if start is not None and start != session.size:
            raise RangeInvalid(
                f"chunk starts at {start}, the upload has {session.size} bytes",
                progress=session.progress,
            )
        if session.size == 0:
            private = f"{upload_key(session.id)}.{uuid.uuid4().hex}"
            writer = self._driver.appender(private, 0)
            return ChunkWriter(writer, new_hasher(algorithm), 0, None, private)
        stored = self._driver.size(upload_key(session.id))
        if stored is None or stored < session.size:
            # Deleted or cut behind the registry: the session cannot go on; the client starts
            # over (the distribution spec's answer to an upload the registry lost).
            self.cancel(session)
            raise BlobUploadUnknown(
                f"the bytes of upload {session.id} are gone from storage; start the upload again",
                detail={"uuid": session.id},
            )
        lease = self._claim(session)
        try:
            writer = self._driver.appender(upload_key(session.id), session.size)
        except BaseException:
            lease.release()
            raise
        hasher = self._hashes.take(session.id, session.size, algorithm)
        return ChunkWriter(writer, hasher, session.size, lease)

    def close_chunk(
        self, session: UploadSession, chunk: ChunkWriter, finishing: bool = False
    ) -> tuple[UploadSession, SessionLease | None]:
        """Record the chunk; with `finishing`, keep the session for `complete`."""
        size = chunk.close()
        lease = chunk.lease
        if chunk.private_key is not None:
            lease = self._adopt_first_chunk(session, chunk.private_key, size, finishing)
        elif lease is None or not lease.release(size, keep=finishing):
            raise RangeInvalid(
                "the upload was taken over by another request", progress=session.progress
            )
        if chunk.hasher is not None:
            self._hashes.put(session.id, size, chunk.hasher)
        return UploadSession(session.id, session.repository, size), lease if finishing else None

    def abort_chunk(self, chunk: ChunkWriter) -> None:
        """A chunk whose request failed: nothing of it counts."""
        chunk.abort()
        if chunk.private_key is not None:
            self._driver.delete(chunk.private_key)

    def _adopt_first_chunk(
        self, session: UploadSession, private_key: str, size: int, finishing: bool
    ) -> SessionLease | None:
        token = uuid.uuid4().hex
        now = time.time()
        adopt = {
            "upload_id": session.id,
            "seen_size": 0,
            "now": now,
            "new_size": size,
            "token": token,
            "until": now + LEASE_SECONDS,
        }
        with self._db.write() as conn:
            adopted = conn.execute(_ADOPT_AND_CLAIM if finishing else _ADOPT, adopt).rowcount
            if adopted == 1:
                try:
                    self._driver.move(private_key, upload_key(session.id))
                except FileNotFoundError:  # deleted behind the registry: the write rolls back
                    raise BlobUploadUnknown(
                        f"the bytes of upload {session.id} are gone from storage; "
                        "start the upload again",
                        detail={"uuid": session.id},
                    ) from None
        if adopted != 1:
            self._driver.delete(private_key)
            current = self.get(session.repository, session.id)  # BlobUploadUnknown when gone
            raise RangeInvalid("another request wrote this upload first", progress=current.progress)
        return SessionLease(self._db, session.id, token) if finishing else None

    def complete(
        self, session: UploadSession, digest: Digest, lease: SessionLease | None = None
    ) -> str:
        """Verify the session's bytes against `digest` and commit them as a blob."""
        lease = lease or self._claim(session, finishing=True)
        try:
            hasher = self._hashes.take(session.id, session.size, digest.algorithm)
            return self._verify_and_commit(session, digest, hasher)
        except BaseException:
            lease.release()
            raise

    def _verify_and_commit(
        self, session: UploadSession, digest: Digest, hasher: Hasher | None
    ) -> str:
        key = upload_key(session.id)
        stored = self._driver.size(key)
        if stored is None or stored < session.size:
            raise BlobUploadInvalid("upload bytes are missing from storage")
        if hasher is None:
            hasher = digest.hasher()
            for block in self._driver.read(key, 0, session.size):
                hasher.update(block)
        actual = hasher.hexdigest()
        if actual != digest.hex:
            self.cancel(session)
            raise DigestInvalid(
                f"upload content has digest {digest.algorithm}:{actual}, not {digest}",
                detail={"digest": str(digest)},
            )
        if stored > session.size:
            self._driver.appender(key, session.size).close()  # drop unacknowledged bytes
        try:
            self._blobs.commit(session.repository, key, str(digest), session.size, session.id)
        except Denied:
            self.cancel(session)  # over the storage limit: the upload's bytes go
            raise
        self._hashes.drop(session.id)
        return str(digest)

    def open_stream(self, name: str, digest: Digest) -> tuple[str, ChunkWriter]:
        """A monolithic upload (POST with ?digest=): bytes go straight to a temporary key that
        no other request knows, so it needs no session row and no lease."""
        check_name(name)
        self.check_writable(name)
        upload_id = str(uuid.uuid4())
        writer = self._driver.appender(upload_key(upload_id), 0)
        return upload_id, ChunkWriter(writer, digest.hasher(), 0, None)

    def commit_stream(self, name: str, upload_id: str, chunk: ChunkWriter, digest: Digest) -> str:
        size = chunk.close()
        return self._verify_and_commit(UploadSession(upload_id, name, size), digest, chunk.hasher)

    def discard_stream(self, upload_id: str, chunk: ChunkWriter) -> None:
        chunk.abort()
        self._driver.delete(upload_key(upload_id))

    def ensure_room(self, session: UploadSession | None, adding: int) -> None:
        """Refuse (DENIED) bytes that would take the registry over its storage limit before
        they are written; the session is cancelled, so nothing of the push stays behind."""
        try:
            with self._db.read() as conn:
                self._blobs.limit.check(conn, (session.size if session else 0) + adding)
        except Denied:
            if session is not None:
                self.cancel(session)
            raise

    def check_writable(self, name: str) -> None:
        """Uploads into a repository with `writeEnabled=false` are refused up front."""
        with self._db.read() as conn:
            locks.check_writable(conn, name, repository_id(conn, name))

    def cancel(self, session: UploadSession) -> None:
        with self._db.write() as conn:
            conn.execute(delete(upload_sessions).where(upload_sessions.c.id == session.id))
        self._driver.delete(upload_key(session.id))
        self._hashes.drop(session.id)
