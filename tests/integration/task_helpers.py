"""Helpers for the task-run suites: build contexts as tarballs, the /api/v1/runs calls, and
looking for the processes a run left behind."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.integration.helpers import describe

FINAL = ("Succeeded", "Failed", "Canceled", "Error", "Timeout")


def context_tar(files: Mapping[str, str | bytes], gz: bool = True) -> bytes:
    """A build context: the given files (parents implied), as tar.gz (or plain tar)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if gz else raw


def upload_source(http: httpx.Client, archive: bytes) -> str:
    resp = http.post(
        "/api/v1/runs/sources",
        content=archive,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 201, "source upload refused" + describe(resp)
    source = resp.json()["source"]
    assert isinstance(source, str)
    return source


def create_run(http: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = http.post("/api/v1/runs", json=body)
    assert resp.status_code == 201, "run not created" + describe(resp)
    run: dict[str, Any] = resp.json()
    return run


def get_run(http: httpx.Client, run_id: str) -> dict[str, Any]:
    resp = http.get(f"/api/v1/runs/{run_id}")
    assert resp.status_code == 200, describe(resp)
    run: dict[str, Any] = resp.json()
    return run


def log_text(http: httpx.Client, run_id: str) -> str:
    resp = http.get(f"/api/v1/runs/{run_id}/logs")
    assert resp.status_code == 200, describe(resp)
    return resp.text


def wait_for_run(
    http: httpx.Client, run_id: str, statuses: tuple[str, ...] = FINAL, timeout: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run = get_run(http, run_id)
    while run["status"] not in statuses:
        assert time.monotonic() < deadline, (
            f"run {run_id} still {run['status']} after {timeout}s; log:\n{log_text(http, run_id)}"
        )
        time.sleep(0.3)
        run = get_run(http, run_id)
    return run


def wait_for_log(http: httpx.Client, run_id: str, text: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    log = log_text(http, run_id)
    while text not in log:
        assert time.monotonic() < deadline, f"{text!r} not in the log of {run_id}:\n{log}"
        time.sleep(0.3)
        log = log_text(http, run_id)
    return log


def processes_matching(*needles: str) -> list[str]:
    """Command lines of live (not zombie) processes that contain every needle."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :].startswith("Z"):
            continue
        line = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if line and all(n in line for n in needles):
            found.append(f"{entry}: {line}")
    return found


def wait_until_gone(*needles: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    left = processes_matching(*needles)
    while left and time.monotonic() < deadline:
        time.sleep(0.3)
        left = processes_matching(*needles)
    assert not left, f"processes still running: {left}"


def wait_for_processes(*needles: str, timeout: float = 30) -> list[str]:
    """processes_matching, retried until something matches or the time is up."""
    deadline = time.monotonic() + timeout
    found = processes_matching(*needles)
    while not found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = processes_matching(*needles)
    return found
