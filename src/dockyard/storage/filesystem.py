"""Filesystem blob driver: durable writes (fsync file and folder) and atomic renames."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from dockyard.errors import StorageError, StorageFull, StorageUnavailable

READ_CHUNK = 1024 * 1024
# Dirty bytes are flushed as they accumulate, so that the fsync that acknowledges an upload
# does not have to write the whole blob at once.
FLUSH_EVERY = 32 * 1024 * 1024


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def _fault(exc: OSError, doing: str) -> Exception:
    """The project's error for a failed write: full and read-only storage are conditions an
    operator fixes (and the registry recovers from by itself), not bugs."""
    if exc.errno in _FULL:
        return StorageFull(f"storage is full: cannot {doing}; retry once space is freed")
    if exc.errno in _NOT_WRITABLE:
        reason = os.strerror(exc.errno or 0).lower()
        return StorageUnavailable(f"storage is not writable ({reason}): cannot {doing}")
    return exc


class FileWriter:
    def __init__(self, path: Path, offset: int) -> None:
        self._path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _fault(exc, "store upload bytes") from exc
        try:
            if offset == 0:
                os.ftruncate(self._fd, 0)
            else:
                current = os.fstat(self._fd).st_size
                if current < offset:
                    raise StorageError(
                        f"cannot append at {offset}: {path.name} has {current} bytes"
                    )
                if current != offset:
                    # A crash may leave bytes past the recorded offset: never acknowledged.
                    os.ftruncate(self._fd, offset)
            os.lseek(self._fd, offset, os.SEEK_SET)
        except BaseException as exc:
            os.close(self._fd)
            if isinstance(exc, OSError):
                raise _fault(exc, "store upload bytes") from exc
            raise
        self._start = offset
        self._size = offset
        self._closed = False
        self._unflushed = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._size += len(data)
            self._unflushed += len(data)
            if self._unflushed >= FLUSH_EVERY:
                os.fdatasync(self._fd)
                self._unflushed = 0
        except OSError as exc:
            raise _fault(exc, "store upload bytes") from exc

    def close(self) -> int:
        if not self._closed:
            self._closed = True
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise _fault(exc, "store upload bytes") from exc
            finally:
                os.close(self._fd)
        return self._size

    def abort(self) -> None:
        """Give up: the bytes this writer added go (they were never acknowledged), so that a
        failed write on a full disk frees what it took at once."""
        if not self._closed:
            self._closed = True
            try:
                os.ftruncate(self._fd, self._start)
            except OSError:
                pass  # a read-only file system: nothing was written either
            finally:
                os.close(self._fd)


class FilesystemDriver:
    """Stores each key as a file under `root`; keys never escape it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid storage key {key!r}")
        return self.root / key

    def size(self, key: str) -> int | None:
        try:
            info = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if stat.S_ISDIR(info.st_mode) else info.st_size

    def read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        remaining = length
        with path.open("rb") as handle:
            handle.seek(offset)
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = handle.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def appender(self, key: str, offset: int) -> FileWriter:
        return FileWriter(self._path(key), offset)

    def move(self, source: str, destination: str) -> None:
        src = self._path(source)
        dst = self._path(destination)
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            # A fresh mtime tells garbage collection the file is new, whatever its upload's age.
            os.utime(src)
            os.replace(src, dst)
            _fsync_dir(dst.parent)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _fault(exc, "store the blob") from exc

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _fault(exc, "delete stored bytes") from exc

    def walk(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        base = self._path(prefix)
        if not base.exists():
            return
        for folder, _dirs, files in os.walk(base):
            for name in files:
                full = Path(folder) / name
                try:
                    info = full.stat()
                except FileNotFoundError:
                    continue
                yield full.relative_to(self.root).as_posix(), info.st_size, info.st_mtime


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
