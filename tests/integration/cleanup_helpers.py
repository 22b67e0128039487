"""What the cleanup suites (soft delete, retention, purge) share: policies over the management
API, the CLI against a server, and reading or ageing rows in the server's database.

Ageing rows stands in for the days that a retention period lasts: a test moves the recorded
times of a deletion or an untagging into the past, as if those days had gone by.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from tests.conftest import ServerProcess
from tests.integration.helpers import OCI_MANIFEST, Pushed, assert_status, describe, sha256

DAY = 86400.0


def set_policies(client: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = client.patch("/api/v1/registry", json=body)
    assert_status(resp, 200)
    answer: dict[str, Any] = resp.json()
    return answer


def soft_delete_on(client: httpx.Client, days: int = 1) -> None:
    answer = set_policies(client, soft_delete_policy={"enabled": True, "days": days})
    assert answer["soft_delete_policy"] == {"enabled": True, "days": days}


def cli(server: ServerProcess, *args: str) -> Any:
    """Run a remote command against the server with `-o json`; returns the parsed answer."""
    result = server.dockyard(*args, "-r", server.url, "-o", "json")
    assert result.returncode == 0, f"dockyard {' '.join(args)} failed:\n{result.stderr}"
    return json.loads(result.stdout)


def cli_fails(server: ServerProcess, *args: str) -> str:
    result = server.dockyard(*args, "-r", server.url)
    assert result.returncode != 0, f"dockyard {' '.join(args)} succeeded:\n{result.stdout}"
    return result.stderr


def sql(server: ServerProcess, statement: str, **params: Any) -> list[Any]:
    """Run one statement in the server's database; the rows it returns, if any."""
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def stored_blob_files(server: ServerProcess) -> set[str]:
    root = Path(server.data_dir) / "storage" / "blobs"
    return {f"{p.parent.parent.name}:{p.name}" for p in root.glob("*/*/*") if p.is_file()}


def gc_now(server: ServerProcess) -> str:
    result = server.dockyard("gc", "--grace-seconds", "0")
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_consistent(server: ServerProcess) -> None:
    result = server.dockyard("check")
    assert result.returncode == 0, result.stdout + result.stderr


def pull_exact(client: httpx.Client, repo: str, reference: str, pushed: Pushed) -> None:
    """`reference` serves exactly the pushed manifest, and every blob it names pulls whole."""
    resp = client.get(
        f"/v2/{repo}/manifests/{reference}", headers={"Accept": pushed.media_type or OCI_MANIFEST}
    )
    assert_status(resp, 200)
    assert resp.content == pushed.body, describe(resp)
    assert resp.headers["docker-content-digest"] == pushed.digest
    for digest in pushed.blobs:
        blob = client.get(f"/v2/{repo}/blobs/{digest}")
        assert_status(blob, 200)
        assert sha256(blob.content) == digest


def manifest_status(client: httpx.Client, repo: str, reference: str) -> int:
    return client.head(f"/v2/{repo}/manifests/{reference}", headers={"Accept": "*/*"}).status_code


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    resp = client.get(f"/v2/{repo}/tags/list")
    if resp.status_code == 404:
        return []
    assert_status(resp, 200)
    return sorted(resp.json().get("tags") or [])


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")
