"""The blob driver seam: a small, file-like interface that every backend implements.

Keys are relative slash-separated paths such as `blobs/sha256/ab/abcd...` or `uploads/<id>`.
Wrappers (encryption, mirroring, metrics) implement the same protocol around another driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class BlobWriter(Protocol):
    """Appends to one key. Bytes count as stored only once `close` returns (they may be
    visible earlier); readers of upload keys go by the size recorded in the database."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> int:
        """Flush durably; returns the key's total size."""
        ...

    def abort(self) -> None: ...


class BlobDriver(Protocol):
    def size(self, key: str) -> int | None:
        """Size in bytes, or None when the key does not exist."""
        ...

    def read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]: ...

    def local_path(self, key: str) -> Path | None:
        """A path the server may send zero-copy, when the bytes on disk are the plaintext."""
        ...

    def appender(self, key: str, offset: int) -> BlobWriter:
        """Open `key` for appending at `offset` (the current size; 0 creates or truncates)."""
        ...

    def move(self, source: str, destination: str) -> None:
        """Atomically rename, durably; replaces an existing destination."""
        ...

    def delete(self, key: str) -> None:
        """Remove a key (or a key prefix folder); missing keys are not an error."""
        ...

    def walk(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """(key, size, modified time) of every key under prefix."""
        ...


def blob_key(digest: str) -> str:
    """Where the bytes of a blob live: one global content-addressed store."""
    algorithm, hex_part = digest.split(":", 1)
    return f"blobs/{algorithm}/{hex_part[:2]}/{hex_part}"


def upload_key(upload_id: str) -> str:
    return f"uploads/{upload_id}"
