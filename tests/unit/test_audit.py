"""The audit log: appended lines, and reading the newest entries from the end of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.access import audit
from dockyard.access.audit import AuditLog


def test_read_returns_the_newest_entries_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "READ_BLOCK", 100)  # force several blocks and a cut first line
    log = AuditLog(tmp_path / "audit.log")
    for n in range(50):
        log.record("login", f"user:{n}", "denied", client="127.0.0.1", note="x" * n)
    newest = log.read(limit=7)
    assert [entry["actor"] for entry in newest] == [f"user:{n}" for n in range(43, 50)]
    assert len(log.read(limit=1000)) == 50
    assert log.read(limit=0) == []
    assert AuditLog(tmp_path / "missing.log").read() == []


def test_no_path_means_no_log(tmp_path: Path) -> None:
    log = AuditLog(None)
    log.record("login", "x", "ok")
    assert log.read() == []
