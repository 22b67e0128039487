"""The audit log: one JSON line per authorization decision and credential change.

Lines are appended with O_APPEND, one write each, so that every server process can add to
the same file without interleaving.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

READ_BLOCK = 64 * 1024


class AuditLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def _descriptor(self, path: Path) -> int:
        # One descriptor per process (a forked worker opens its own).
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def record(self, event: str, actor: str, outcome: str, **detail: Any) -> None:
        if self.path is None:
            return
        entry = {"ts": round(time.time(), 3), "event": event, "actor": actor, "outcome": outcome}
        entry.update({k: v for k, v in detail.items() if v is not None})
        line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
        os.write(self._descriptor(self.path), line)

    def read(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The last `limit` entries, oldest first, reading the file from its end."""
        if self.path is None or not self.path.exists() or limit <= 0:
            return []
        with self.path.open("rb") as handle:
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
        return [json.loads(line) for line in lines[-limit:]]
