"""Packing a local build context into the gzip'd tar that `dockyard build` uploads.

The archive holds what `docker build` would send: every file and directory under the root
that the `.dockerignore` (or a `<Dockerfile>.dockerignore` next to the Dockerfile, which wins,
as in BuildKit) does not exclude; the Dockerfile and the ignore files always. Entries come in
a fixed order (depth first, names sorted bytewise) with owner 0:0, no user or group names and
whole-second modification times, and the gzip header carries no name or time, so the same
tree always packs to the same bytes.

Symbolic links are stored as links and never followed. A link whose target leaves the
context (absolute, or climbing above the root) is left out with a warning, as are sockets,
pipes and device files: the registry refuses an archive holding any of them.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.cli.tasks.dockerignore import DockerIgnore, IgnoreFileError, clean_path

IGNORE_FILE = ".dockerignore"
GZIP_LEVEL = 6
_COPY_BUFFER = 1024 * 1024


class ContextError(Exception):
    """A context that cannot be packed: missing, unreadable, or a bad ignore file."""


@dataclass
class PackReport:
    """What went into an archive and what was left out."""

    files: int = 0
    directories: int = 0
    links: int = 0
    content_bytes: int = 0
    excluded: int = 0
    warnings: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def ignore_file_for(root: Path, dockerfile: str | None) -> str | None:
    """The context path of the ignore file that applies: `<Dockerfile>.dockerignore` when it
    exists, else `.dockerignore` when that exists."""
    candidates = [f"{dockerfile}.dockerignore"] if dockerfile else []
    candidates.append(IGNORE_FILE)
    for candidate in candidates:
        if (root / candidate).is_file():
            return clean_path(candidate)
    return None


def load_ignore(root: Path, dockerfile: str | None) -> DockerIgnore:
    """The exclusions for a context, with the Dockerfile and ignore files always kept."""
    kept = [IGNORE_FILE]
    if dockerfile:
        kept += [dockerfile, f"{dockerfile}.dockerignore"]
    found = ignore_file_for(root, dockerfile)
    if found is None:
        return DockerIgnore().keeping(kept)
    try:
        text = (root / found).read_text(encoding="utf-8", errors="replace")
        return DockerIgnore.from_text(text).keeping(kept)
    except IgnoreFileError as exc:
        raise ContextError(f"{found}: {exc}") from exc
    except OSError as exc:
        raise ContextError(f"cannot read {found}: {exc}") from exc


def link_leaves_context(name: str, target: str) -> bool:
    """Whether a symbolic link at context path `name` points outside the context."""
    if target.startswith("/"):
        return True
    resolved = clean_path(posixpath.join(posixpath.dirname(name), target))
    return resolved == ".." or resolved.startswith("../")


def _tar_info(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _Packer:
    def __init__(
        self,
        root: Path,
        ignore: DockerIgnore,
        tar: tarfile.TarFile,
        on_file: Callable[[str], None] | None,
    ) -> None:
        self.root = root
        self.ignore = ignore
        self.tar = tar
        self.on_file = on_file
        self.report = PackReport()

    def walk(self, directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            raise ContextError(f"cannot list {prefix or '.'}: {exc.strerror or exc}") from exc
        for entry in entries:
            name = f"{prefix}{entry.name}"
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                raise ContextError(f"cannot read {name}: {exc.strerror or exc}") from exc
            self.add(Path(entry.path), name, st)

    def add(self, path: Path, name: str, st: os.stat_result) -> None:
        excluded = self.ignore.excludes(name)
        if stat.S_ISDIR(st.st_mode):
            if not excluded:
                self.tar.addfile(_tar_info(name, st, tarfile.DIRTYPE))
                self.report.directories += 1
                self._added(name)
            elif not self.ignore.may_include_under(name):
                self.report.excluded += 1
                return
            self.walk(path, name + "/")
            return
        if excluded:
            self.report.excluded += 1
        elif stat.S_ISREG(st.st_mode):
            self._add_file(path, name, st)
        elif stat.S_ISLNK(st.st_mode):
            self._add_link(path, name, st)
        else:
            self.report.warnings.append(f"left out {name}: not a file, directory or symbolic link")

    def _add_file(self, path: Path, name: str, st: os.stat_result) -> None:
        info = _tar_info(name, st, tarfile.REGTYPE)
        try:
            with path.open("rb") as handle:
                info.size = os.fstat(handle.fileno()).st_size
                self.tar.addfile(info, handle)
        except OSError as exc:
            raise ContextError(f"cannot read {name}: {exc.strerror or exc}") from exc
        self.report.files += 1
        self.report.content_bytes += info.size
        self._added(name)

    def _add_link(self, path: Path, name: str, st: os.stat_result) -> None:
        target = os.readlink(path)
        if link_leaves_context(name, target):
            self.report.warnings.append(
                f"left out {name}: a symbolic link to {target}, outside the context"
            )
            return
        info = _tar_info(name, st, tarfile.SYMTYPE)
        info.linkname = target
        self.tar.addfile(info)
        self.report.links += 1
        self._added(name)

    def _added(self, name: str) -> None:
        self.report.names.append(name)
        if self.on_file is not None:
            self.on_file(name)


def pack_context(
    root: Path,
    out: BinaryIO,
    *,
    dockerfile: str | None = None,
    on_file: Callable[[str], None] | None = None,
) -> PackReport:
    """Write the context under `root` to `out` as a gzip'd tar; `dockerfile` (a context path)
    and the ignore files are sent even when a pattern excludes them. `on_file` hears of
    every entry as it goes in."""
    if not root.is_dir():
        raise ContextError(f"{root} is not a directory")
    ignore = load_ignore(root, dockerfile)
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=GZIP_LEVEL) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, bufsize=_COPY_BUFFER) as tar,
    ):
        packer = _Packer(root, ignore, tar, on_file)
        packer.walk(root, "")
    return packer.report
