"""The audit log of a real server: refusals, logins, token issuance and changes are recorded,
allowed reads only when `audit_log_reads` is on; the log rotates by size while two worker
processes write to it, losing and splitting no record, and stays within its bounds."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.auth_helpers import (
    AuthServer,
    auth_server,
    basic,
    fetch_token,
    nonce,
)
from tests.integration.helpers import describe, push_image

MAX_BYTES = 2048
# A rotation may let the other worker's lines in flight land past the limit.
SLACK = 2 * 1024


def log_files(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """audit.log and its rotated files, each line parsed (a split line fails the test)."""
    files: dict[str, list[dict[str, Any]]] = {}
    for path in data_dir.glob("audit.log*"):
        if path.name != "audit.log.lock":
            files[path.name] = [json.loads(line) for line in path.read_bytes().splitlines()]
    return files


def all_entries(data_dir: Path) -> list[dict[str, Any]]:
    return [entry for entries in log_files(data_dir).values() for entry in entries]


def wait_for(data_dir: Path, found: Any, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    entries = all_entries(data_dir)
    while not found(entries) and time.monotonic() < deadline:
        time.sleep(0.2)
        entries = all_entries(data_dir)
    return entries


def writers_of(srv: AuthServer) -> set[int]:
    """The server processes that have the audit log open (they opened it to write)."""
    root = srv.proc.proc
    assert root is not None
    pids: set[int] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                session = int(stat.read().rsplit(")", 1)[1].split()[3])
            if session != root.pid:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(str(srv.proc.data_dir / "audit.log")) and not target.endswith(
                    ".lock"
                ):
                    pids.add(int(pid))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return pids


def test_reads_are_not_recorded_by_default_refusals_and_changes_are(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with auth_server(tmp_path_factory.mktemp("audit-default")) as srv:
        repo = f"audited/{nonce()}"
        name, password = srv.user(role="AcrPull", prefix="reader")
        with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
            pushed = push_image(owner, repo, "v1")
            for _ in range(3):
                assert owner.head(f"/v2/{repo}/blobs/{pushed.blobs[0]}").status_code == 200
                assert owner.get(f"/v2/{repo}/manifests/v1").status_code == 200
                assert owner.get(f"/v2/{repo}/tags/list").status_code == 200
            delete = owner.delete(f"/v2/{repo}/manifests/{pushed.digest}")
            assert delete.status_code == 202, describe(delete)
        with httpx.Client(base_url=srv.url, timeout=60) as anon:
            assert anon.get(f"/v2/{repo}/tags/list").status_code == 401
            reader = basic(name, password)
            assert anon.put(f"/v2/{repo}/manifests/v2", headers=reader).status_code == 403
            assert (
                anon.get(f"/v2/{repo}/tags/list", headers=basic(name, "wrong")).status_code == 401
            )
            token = fetch_token(anon, reader, f"repository:{repo}:pull", service=srv.host)
            assert token.status_code == 200, describe(token)

        def complete(entries: list[dict[str, Any]]) -> bool:
            return any(e["event"] == "token.issue" and e["outcome"] == "ok" for e in entries)

        entries = wait_for(srv.proc.data_dir, complete)
        text = "\n".join(json.dumps(e) for e in entries)
        allowed = [e for e in entries if e["event"] == "authorize" and e["outcome"] == "allowed"]
        assert allowed, text
        assert not [e for e in allowed if e.get("method") in ("GET", "HEAD")], text
        assert {e["method"] for e in allowed} >= {"POST", "PUT", "DELETE"}, text
        denied = {
            (e["event"], e.get("method"), e["actor"]) for e in entries if e["outcome"] == "denied"
        }
        assert ("authorize", "GET", "anonymous") in denied, text
        assert ("authorize", "PUT", f"user:{name}") in denied, text
        assert any(
            e["event"] == "login" and e["actor"] == name and e["outcome"] == "denied"
            for e in entries
        ), text
        # Logins that succeed, and the tokens issued, are recorded too.
        assert any(
            e["event"] == "login" and e["actor"] == f"user:{name}" and e["outcome"] == "ok"
            for e in entries
        ), text
        assert any(
            e["event"] == "login" and e["actor"] == "user:owner" and e["outcome"] == "ok"
            for e in entries
        ), text
        assert any(e["event"] == "token.issue" and e["actor"] == f"user:{name}" for e in entries), (
            text
        )


def test_two_workers_rotate_without_losing_or_splitting_records(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with auth_server(
        tmp_path_factory.mktemp("audit-rotation"),
        workers=2,
        DOCKYARD_AUDIT_LOG_MAX_BYTES=str(MAX_BYTES),
        DOCKYARD_AUDIT_LOG_BACKUPS="100000",
        DOCKYARD_AUDIT_LOG_READS="true",
    ) as srv:
        repo = f"rotated/{nonce()}"
        with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
            push_image(owner, repo, "v1")
        markers = [f"/v2/{repo}-{n}/tags/list" for n in range(120)]

        def refused(path: str) -> int:
            with httpx.Client(base_url=srv.url, timeout=60) as anon:
                return anon.get(path).status_code

        def read(_: int) -> int:
            with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
                return owner.get(f"/v2/{repo}/manifests/v1").status_code

        with ThreadPoolExecutor(8) as pool:
            reads = pool.map(read, range(40))
            statuses = list(pool.map(refused, markers))
            assert set(reads) == {200}
        assert set(statuses) == {401}, statuses

        def complete(entries: list[dict[str, Any]]) -> bool:
            paths = {e.get("path") for e in entries if e["outcome"] == "denied"}
            return paths >= set(markers)

        entries = wait_for(srv.proc.data_dir, complete)
        files = log_files(srv.proc.data_dir)
        assert len(files) > 5, sorted(files)  # rotated, many times
        for file_name in files:
            size = (srv.proc.data_dir / file_name).stat().st_size
            assert size <= MAX_BYTES + SLACK, (file_name, size)
        denied_paths = [e.get("path") for e in entries if e["outcome"] == "denied"]
        for marker in markers:
            assert denied_paths.count(marker) == 1, marker
        # With audit_log_reads on, the allowed reads are there, each once.
        read_paths = [
            e
            for e in entries
            if e["event"] == "authorize" and e["outcome"] == "allowed" and e.get("method") == "GET"
        ]
        assert len(read_paths) == 40, len(read_paths)
        root = srv.proc.proc
        assert root is not None
        # `serve` itself wrote the first owner's creation; then each worker wrote.
        assert len(writers_of(srv) - {root.pid}) == 2, "both workers should have written"
        # The management API reads across the rotated files, newest last.
        with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
            newest = owner.get("/api/v1/audit", params={"limit": 100})
        assert newest.status_code == 200, describe(newest)
        assert len(newest.json()) == 100
        stamps = [e["ts"] for e in newest.json()]
        assert stamps[-1] >= max(e["ts"] for e in entries) - 1


def test_the_log_stays_within_its_bounds(tmp_path_factory: pytest.TempPathFactory) -> None:
    with auth_server(
        tmp_path_factory.mktemp("audit-bounded"),
        workers=2,
        DOCKYARD_AUDIT_LOG_MAX_BYTES=str(MAX_BYTES),
        DOCKYARD_AUDIT_LOG_BACKUPS="2",
    ) as srv:

        def refused(n: int) -> int:
            with httpx.Client(base_url=srv.url, timeout=60) as anon:
                return anon.get(f"/v2/bounded/{n}/tags/list").status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(refused, range(150))) == {401}
        entries = wait_for(
            srv.proc.data_dir,
            lambda entries: any(e.get("path") == "/v2/bounded/149/tags/list" for e in entries),
        )
        files = log_files(srv.proc.data_dir)
        assert set(files) == {"audit.log", "audit.log.1", "audit.log.2"}, sorted(files)
        total = sum((srv.proc.data_dir / name).stat().st_size for name in files)
        assert total <= 3 * (MAX_BYTES + SLACK), total
        assert len(entries) < 150  # the oldest were dropped
