"""Build contexts as tar archives (plain or gzip): checked member by member, unpacked safely.

A context may not reach outside itself: no absolute paths, no `..`, no symbolic or hard link
whose target lies outside, no device files or FIFOs, and nothing larger than the limit, packed
or unpacked. Every refusal names the offending member.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.errors import TooLarge, Unsupported

GZIP_MAGIC = b"\x1f\x8b"


class SourceInvalid(Unsupported):
    """A build context that is not a tar archive, or one that reaches outside itself."""


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    members: int
    unpacked_bytes: int


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _ChunkReader(io.RawIOBase):
    """A file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class _LimitedReader(io.RawIOBase):
    """Counts the (unpacked) bytes read through it and stops past `limit`."""

    def __init__(self, inner: _Readable, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self.count += len(data)
        if self.count > self._limit:
            raise TooLarge(f"the build context unpacks to more than {self._limit} bytes")
        buffer[: len(data)] = data
        return len(data)


def _unpacked_stream(raw: io.RawIOBase, limit: int) -> _LimitedReader:
    buffered = io.BufferedReader(raw)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return _LimitedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), limit)
    return _LimitedReader(buffered, limit)


def check_member(member: tarfile.TarInfo, seen: set[str]) -> None:
    """Refuse a member that would reach outside the context; `seen` holds earlier names."""
    name = member.name
    if name.startswith("/"):
        raise SourceInvalid(f"{name!r}: absolute paths are not allowed in a build context")
    if ".." in name.split("/"):
        raise SourceInvalid(f"{name!r}: '..' is not allowed in a build context path")
    if member.ischr() or member.isblk() or member.isfifo():
        raise SourceInvalid(f"{name!r}: device files and FIFOs are not allowed in a build context")
    target = member.linkname
    if member.issym():
        if target.startswith("/"):
            raise SourceInvalid(
                f"{name!r}: symbolic link to {target!r} points outside the build context"
            )
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if resolved == ".." or resolved.startswith("../"):
            raise SourceInvalid(
                f"{name!r}: symbolic link to {target!r} points outside the build context"
            )
    elif member.islnk():
        normal = posixpath.normpath(target)
        if target.startswith("/") or normal == ".." or normal.startswith("../"):
            raise SourceInvalid(
                f"{name!r}: hard link to {target!r} points outside the build context"
            )
        if _normal(target) not in seen:
            raise SourceInvalid(
                f"{name!r}: hard link to {target!r}, which is not earlier in the build context"
            )
    elif not (member.isfile() or member.isdir()):
        raise SourceInvalid(f"{name!r}: unsupported member type in a build context")
    seen.add(_normal(name))


def _normal(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


def validate(chunks: Iterable[bytes], max_unpacked: int) -> ArchiveSummary:
    """Read a whole tar (or tar.gz) stream and check every member."""
    stream = _unpacked_stream(_ChunkReader(chunks), max_unpacked)
    seen: set[str] = set()
    members = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                check_member(member, seen)
                members += 1
        # Read to the end, so that bytes after the archive count against the limit too.
        while stream.read(1024 * 1024):
            pass
    except tarfile.TarError as exc:
        raise SourceInvalid(
            f"the build context is not a tar archive (plain or gzip): {exc}"
        ) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SourceInvalid(f"the build context is not a valid gzip stream: {exc}") from None
    return ArchiveSummary(members, stream.count)


def extract(archive: Path, destination: Path, max_unpacked: int) -> ArchiveSummary:
    """Unpack a stored context into `destination`, checking it again on the way."""
    destination.mkdir(parents=True, exist_ok=True)
    # The server's umask (077) keeps its data private; a context is read by build and step
    # containers, whatever their user, so it gets the usual mode (members keep their own).
    destination.chmod(0o755)
    with archive.open("rb", buffering=0) as raw:
        stream = _unpacked_stream(raw, max_unpacked)
        seen: set[str] = set()
        members = 0
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    check_member(member, seen)
                    # The data filter refuses, again, whatever would land outside.
                    tar.extract(member, destination, filter="data")
                    members += 1
        except tarfile.TarError as exc:
            raise SourceInvalid(f"the build context cannot be unpacked: {exc}") from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise SourceInvalid(f"the build context is not a valid gzip stream: {exc}") from None
    return ArchiveSummary(members, stream.count)
