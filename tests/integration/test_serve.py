"""`dockyard serve` as an operator runs it: TLS, JSON logs, a YAML config, memory use."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, free_port


def start(
    args: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve", *args],
        env={**os.environ, "DOCKYARD_AUTH_ENABLED": "false", **(env or {})},
        stdout=log.open("wb") if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes], verify: bool = True) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = start(
        [
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ]
    )
    try:
        url = f"https://127.0.0.1:{port}"
        wait_ready(url, proc, verify=str(cert))  # type: ignore[arg-type]
        resp = httpx.get(f"{url}/v2/", verify=str(cert))  # type: ignore[arg-type]
        assert resp.status_code == 200
        assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=3)
    finally:
        stop(proc)


def test_yaml_config_and_json_access_log(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "dockyard.yaml"
    config.write_text(
        f"port: {port}\ndata_dir: {tmp_path / 'data'}\nlog_format: json\nmax_manifest_bytes: 1000\n"
    )
    log = tmp_path / "server.log"
    proc = start(["--config", str(config)], log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        big = json.dumps({"schemaVersion": 2, "pad": "x" * 2000}).encode()
        resp = httpx.put(
            f"{url}/v2/cfg/test/manifests/v1",
            content=big,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert resp.status_code == 413, "max_manifest_bytes from the YAML file was not applied"
        assert resp.json()["errors"][0]["code"] == "SIZE_INVALID"
        httpx.get(f"{url}/v2/cfg/test/tags/list")
    finally:
        stop(proc)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry.get("path") == "/v2/cfg/test/tags/list"]
    assert len(requests) == 1, log.read_text()
    assert requests[0]["status"] == 404
    assert requests[0]["method"] == "GET"
    assert isinstance(requests[0]["duration_ms"], float)


def test_env_setting_overrides_default(server_factory: type[ServerProcess]) -> None:
    server = server_factory(env={"DOCKYARD_MAX_MANIFEST_BYTES": "10"})
    resp = httpx.put(f"{server.url}/v2/env/test/manifests/v1", content=b"{" * 11)
    assert resp.status_code == 413


def test_metrics_sum_over_worker_processes(server_factory: type[ServerProcess]) -> None:
    server = server_factory(workers=2)
    for _ in range(40):
        with httpx.Client(base_url=server.url) as http:  # new connections spread over workers
            http.get("/v2/")
    text = httpx.get(f"{server.url}/metrics").text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith("dockyard_http_requests_total")
        and 'endpoint="base"' in row
        and 'status="200"' in row
    )
    assert float(line.rsplit(" ", 1)[1]) == 40.0


def _rss_kib(pid: int) -> int:
    """The largest resident set among `pid` and its descendants (the worker processes)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            stat = (proc_dir / "stat").read_text()
            status = (proc_dir / "status").read_text()
        except OSError:
            continue
        child = int(proc_dir.name)
        parents[child] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[child] = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    family = {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in family and child not in family:
                family.add(child)
                changed = True
    assert len(family) >= 2, "no worker process found"
    return max(rss.get(member, 0) for member in family)


def test_pushing_a_1_gib_blob_keeps_server_memory_under_200_mb(
    server_factory: type[ServerProcess],
) -> None:
    server = server_factory(workers=1)
    assert server.proc is not None
    size = 1024 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    hasher = hashlib.sha256()
    for _ in range(size // len(block)):
        hasher.update(block)
    digest = "sha256:" + hasher.hexdigest()
    peak = 0

    def body() -> Iterator[bytes]:
        nonlocal peak
        for i in range(size // len(block)):
            if i % 64 == 0:
                peak = max(peak, _rss_kib(server.proc.pid))  # type: ignore[union-attr]
            yield block

    resp = httpx.post(
        f"{server.url}/v2/big/blob/blobs/uploads/",
        params={"digest": digest},
        content=body(),
        timeout=300,
    )
    assert resp.status_code == 201, resp.text
    peak = max(peak, _rss_kib(server.proc.pid))
    assert 10 * 1024 < peak < 200 * 1024, f"peak RSS of a server process was {peak} KiB"
    head = httpx.head(f"{server.url}/v2/big/blob/blobs/{digest}")
    assert head.headers["Content-Length"] == str(size)
