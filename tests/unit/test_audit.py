"""The audit log: appended lines, reading the newest entries from the end of the files, and
rotation by size and age that several processes and threads may do at once."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from dockyard.access import audit
from dockyard.access.audit import AuditLog, AuditRetention

DAY = 24 * 3600.0


def lines_of(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every file of the log (audit.log, audit.log.1, ...) and its parsed lines; a line that
    is not whole JSON fails the test."""
    files: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("audit.log*")):
        if path.name.endswith(".lock"):
            continue
        files[path.name] = [json.loads(line) for line in path.read_bytes().splitlines()]
    return files


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


def test_rotates_by_size_and_keeps_the_configured_backups(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", AuditRetention(max_bytes=1024, backups=3))
    for n in range(200):
        log.record("authorize", f"user:{n}", "denied", path=f"/v2/r{n}/tags/list")
    files = lines_of(tmp_path)
    assert set(files) == {"audit.log", "audit.log.1", "audit.log.2", "audit.log.3"}, files
    for name in files:
        assert (tmp_path / name).stat().st_size <= 1024, name
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
    # Oldest file first, newest last: the records are in order, and the newest ones kept.
    ordered = [
        e["actor"] for name in ("audit.log.3", "audit.log.2", "audit.log.1", "audit.log")
        for e in files[name]
    ]  # fmt: skip
    numbers = [int(actor.split(":")[1]) for actor in ordered]
    assert numbers == list(range(numbers[0], 200)), numbers
    # Reading spans the rotated files.
    newest = log.read(limit=len(numbers))
    assert [e["actor"] for e in newest] == ordered
    assert [e["actor"] for e in log.read(limit=5)] == ordered[-5:]


def test_a_record_larger_than_the_limit_is_written_whole(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", AuditRetention(max_bytes=1024, backups=2))
    log.record("x", "a", "ok", note="y" * 3000)
    log.record("x", "b", "ok", note="y" * 3000)
    files = lines_of(tmp_path)
    assert [e["actor"] for e in files["audit.log.1"]] == ["a"]
    assert [e["actor"] for e in files["audit.log"]] == ["b"]


def test_rotates_and_deletes_by_age(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000_000.0]
    monkeypatch.setattr(audit.time, "time", lambda: now[0])
    retention = AuditRetention(max_bytes=1024 * 1024, backups=10, max_age_seconds=8 * DAY)
    log = AuditLog(tmp_path / "audit.log", retention)
    log.record("a", "day0", "ok")
    now[0] += 1 * DAY
    log.record("a", "day1", "ok")
    assert set(lines_of(tmp_path)) == {"audit.log"}
    now[0] += 2 * DAY  # the current file's first record is a quarter of the age old: rotated
    log.record("a", "day3", "ok")
    assert [e["actor"] for e in lines_of(tmp_path)["audit.log.1"]] == ["day0", "day1"]
    now[0] += 3 * DAY
    log.record("a", "day6", "ok")
    now[0] += 3 * DAY  # day 9: day0's file is past the age and goes, day3's is kept
    log.record("a", "day9", "ok")
    files = lines_of(tmp_path)
    kept = sorted(e["actor"] for entries in files.values() for e in entries)
    assert kept == ["day3", "day6", "day9"], files
    # A process that starts later removes what grew too old meanwhile, before any record.
    now[0] += 20 * DAY
    AuditLog(tmp_path / "audit.log", retention)
    assert lines_of(tmp_path) in ({}, {"audit.log": []}), lines_of(tmp_path)


def test_backups_beyond_a_lowered_count_are_removed(tmp_path: Path) -> None:
    for n in range(1, 6):
        (tmp_path / f"audit.log.{n}").write_text('{"ts":1e12,"event":"x"}\n')
    log = AuditLog(tmp_path / "audit.log", AuditRetention(max_bytes=64, backups=2))
    log.record("a", "first", "ok", note="z" * 80)
    log.record("a", "second", "ok")
    assert set(lines_of(tmp_path)) == {"audit.log", "audit.log.1", "audit.log.2"}


def _writer(path: str, name: str, count: int, max_bytes: int) -> None:
    log = AuditLog(Path(path), AuditRetention(max_bytes=max_bytes, backups=100_000))
    for n in range(count):
        log.record("authorize", name, "denied", n=n, path=f"/v2/{name}/{n}" + "p" * (n % 50))


def _assert_every_record_once(folder: Path, writers: list[str], count: int) -> None:
    files = lines_of(folder)  # every line whole JSON: none split or interleaved
    assert len(files) > 10, "expected many rotations"
    seen: dict[str, list[int]] = {name: [] for name in writers}
    for entries in files.values():
        for entry in entries:
            seen[entry["actor"]].append(entry["n"])
    for name in writers:
        assert sorted(seen[name]) == list(range(count)), f"{name} lost or repeated records"
    for name in files:
        # Over the limit by at most what the other writers appended meanwhile.
        assert (folder / name).stat().st_size <= 2048 + len(writers) * 200, name


def test_processes_rotating_at_once_lose_and_split_nothing(tmp_path: Path) -> None:
    writers = [f"proc{n}" for n in range(4)]
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_writer, args=(str(tmp_path / "audit.log"), name, 200, 2048))
        for name in writers
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    _assert_every_record_once(tmp_path, writers, 200)


def test_threads_rotating_at_once_lose_and_split_nothing(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", AuditRetention(max_bytes=2048, backups=100_000))
    writers = [f"thread{n}" for n in range(6)]

    def write(name: str) -> None:
        for n in range(150):
            log.record("authorize", name, "denied", n=n, path=f"/v2/{name}/{n}" + "p" * (n % 50))

    threads = [threading.Thread(target=write, args=(name,)) for name in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _assert_every_record_once(tmp_path, writers, 150)
