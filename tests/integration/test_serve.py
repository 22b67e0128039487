"""`dockyard serve` as an operator runs it: TLS, JSON logs, a YAML config, memory use."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, free_port
from tests.integration.test_durability import push_image

# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): the server process as
# an operator runs it (TLS, logs, settings, memory, ports, file modes), not what it stores.
pytestmark = pytest.mark.db_independent


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
    with httpx.Client(timeout=1, verify=verify) as http:  # one client: see ServerProcess.start
        while time.monotonic() < deadline:
            assert proc.poll() is None, "server exited"
            try:
                if http.get(f"{url}/healthz").status_code == 200:
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


# --- a server without credentials stays on loopback (#11) ------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "registry.example", "192.0.2.10"])
def test_no_auth_refuses_an_address_other_than_loopback(tmp_path: Path, host: str) -> None:
    log = tmp_path / "serve.log"
    port = str(free_port())
    proc = start(
        ["--no-auth", "--host", host, "--port", port, "--data-dir", str(tmp_path)], log=log
    )
    try:
        status = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"dockyard serve --no-auth --host {host} started:\n{log.read_text()}")
    said = " ".join(log.read_text().split())
    assert status != 0
    assert f"refusing to serve WITHOUT AUTHENTICATION on {host}" in said, said
    assert "--insecure-no-auth-on-network" in said, said


def test_no_auth_on_the_network_only_when_said_so_and_loudly(tmp_path: Path) -> None:
    port = free_port()
    data = str(tmp_path / "data")
    for args, env in (
        (["--insecure-no-auth-on-network"], {}),
        ([], {"DOCKYARD_INSECURE_NO_AUTH_ON_NETWORK": "true"}),
    ):
        log = tmp_path / "serve.log"
        proc = start(
            ["--no-auth", "--host", "0.0.0.0", "--port", str(port), "--data-dir", data, *args],
            env=env,
            log=log,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}", proc)
            assert httpx.get(f"http://127.0.0.1:{port}/v2/").status_code == 200
        finally:
            stop(proc)
        said = " ".join(log.read_text().split())
        assert "WARNING: serving WITHOUT AUTHENTICATION on 0.0.0.0" in said, said


def test_no_auth_on_loopback_starts_as_before(tmp_path: Path) -> None:
    for host in ("127.0.0.2", "::1"):  # (Granian binds addresses, not names)
        port = free_port()
        log = tmp_path / "serve.log"
        proc = start(
            ["--no-auth", "--host", host, "--port", str(port), "--data-dir", str(tmp_path / "d")],
            log=log,
        )
        try:
            base = f"http://{'[::1]' if host == '::1' else host}:{port}"
            wait_ready(base, proc)
        finally:
            stop(proc)
        assert "WITHOUT AUTHENTICATION" not in log.read_text()


# --- the data folder is private (#11) ------------------------------------------------------


def _open_to_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(root)} {stat.S_IMODE(mode):04o}")
    return found


def test_the_data_folder_and_its_files_are_made_private(tmp_path: Path) -> None:
    """A data folder left 0755 with a 0644 database and audit log (as earlier versions made
    them) is made 0700/0600 at start, and the log says what was changed; everything the
    server creates afterwards (database journal, blobs, folders) is private too."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    for name in ("dockyard.db", "audit.log"):
        (data / name).touch()
        (data / name).chmod(0o644)
    (data / "storage").mkdir()
    (data / "storage").chmod(0o755)
    server = ServerProcess(data)
    server.database_url = f"sqlite:///{data}/dockyard.db"  # the file above, even on PostgreSQL runs
    server.start()
    try:
        log = " ".join(server.log().split())
        for name, was, now in (
            ("", "0755", "0700"),
            ("/dockyard.db", "0644", "0600"),
            ("/audit.log", "0644", "0600"),
            ("/storage", "0755", "0700"),
        ):
            assert f"{data}{name} was open to other users (mode {was}); made it {now}" in log, log
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "dockyard.db").stat().st_mode) == 0o600
        with httpx.Client(base_url=server.url, timeout=60) as http:
            push_image(http, "private/app", "v1", [os.urandom(1000), os.urandom(2000)])
        assert list((data / "storage").rglob("blobs/*/*/*")), "no blob files were written"
        assert _open_to_others(data) == []
    finally:
        server.stop()
    assert _open_to_others(data) == []
    restarted = ServerProcess(data)
    restarted.database_url = server.database_url
    restarted.log_path = tmp_path / "again.log"
    restarted.start()
    restarted.stop()
    assert "open to other users" not in restarted.log()  # nothing left to change


# --- one server per port (#12) --------------------------------------------------------------


def test_a_second_server_on_a_port_in_use_refuses_to_start(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Granian listens with SO_REUSEPORT, so a second `dockyard serve` on the same port used to
    start silently and take a share of the connections; it must stop at once instead, whether
    it is pointed at the first one's data folder or at another."""
    first = server_factory(workers=2)
    for name, args in (
        ("another data folder", ["--data-dir", str(tmp_path / "other")]),
        ("the same data folder", ["--data-dir", str(first.data_dir), "--db", first.database_url]),
    ):
        log = tmp_path / "second.log"
        second = start(["--host", "127.0.0.1", "--port", str(first.port), *args], log=log)
        try:
            status = second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop(second)
            pytest.fail(
                f"a second server on port {first.port} ({name}) started:\n{log.read_text()}"
            )
        said = " ".join(log.read_text().split())
        assert status != 0, said
        expected = f"port {first.port} on 127.0.0.1 is already in use (another dockyard serve?)"
        assert expected in said, said
        assert "Traceback" not in said, said
        for _ in range(20):  # new connections each time: none may land on a second server
            with httpx.Client(base_url=first.url, timeout=5) as http:
                assert http.get("/healthz").status_code == 200
    assert not (tmp_path / "other").exists(), "the refused server created its data folder"
