"""The data folder is private to the user the server runs as.

It holds the database (with the token-signing private keys, password hashes and webhook
secrets), the bytes of private repositories, the audit log and the first owner's password.
Commands that open it create it 0700 and, before anything else, make it and what it holds
directly (and the SQLite files, wherever they are) unreadable to group and others, saying
what they changed.

Only the folder's top-level entries are looked at, not every blob: a folder of millions of
files would take minutes to walk at each start, and nothing below a 0700 folder can be
reached by other users whatever its own mode. New files are private anyway once the process
runs with umask 077 (the caller sets it).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_DIR_MODE = 0o700
_OTHERS = 0o077  # group and other permission bits
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class DataDirUnsafe(Exception):
    """The data folder or a file in it is open to other users and cannot be made private."""


def sqlite_files(database_url: str) -> list[Path]:
    """The database file of a SQLite URL and the files SQLite keeps beside it; none for
    other databases (or an in-memory one)."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return []
    database = Path(url.database)
    return [database, *(database.with_name(database.name + s) for s in _SQLITE_COMPANIONS)]


def make_private(data_dir: Path, files: Iterable[Path] = ()) -> list[str]:
    """Create `data_dir` (0700) when missing, then take group and other permissions off it,
    off each of its top-level entries and off `files` (those that exist). Symbolic links
    are left alone (chmod would change what they point to). Answers what was changed, one
    sentence each; raises DataDirUnsafe when a change is refused (not the owner)."""
    data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fixed: list[str] = []
    targets = [data_dir, *sorted(data_dir.iterdir()), *files]
    for path in dict.fromkeys(targets):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) and path != data_dir:
            continue
        if path == data_dir:
            info = path.stat()
        mode = stat.S_IMODE(info.st_mode)
        if not mode & _OTHERS:
            continue
        private = mode & ~_OTHERS
        try:
            os.chmod(path, private)
        except OSError as exc:
            kind = "folder" if stat.S_ISDIR(info.st_mode) else "file"
            raise DataDirUnsafe(
                f"the {kind} {path} is open to other users (mode {mode:04o}) and cannot be "
                f"made private ({exc.strerror}); as its owner, run: chmod go-rwx {path}"
            ) from None
        fixed.append(f"{path} was open to other users (mode {mode:04o}); made it {private:04o}")
    return fixed
