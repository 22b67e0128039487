"""Shared fixtures: a real `dockyard serve` process on a free loopback port.

The database under test is SQLite unless DOCKYARD_TEST_POSTGRES names a PostgreSQL server
(e.g. postgresql://postgres@127.0.0.1:5432/postgres); then every server gets a fresh database.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.tls import ServerCertificate

POSTGRES_ADMIN_URL = os.environ.get("DOCKYARD_TEST_POSTGRES", "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database_url(data_dir: Path) -> str:
    """A new, empty database for one server."""
    if not POSTGRES_ADMIN_URL:
        return f"sqlite:///{data_dir}/dockyard.db"
    import psycopg

    name = f"dockyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


class ServerProcess:
    """One `dockyard serve` process and its data directory."""

    def __init__(
        self,
        data_dir: Path,
        workers: int = 1,
        env: dict[str, str] | None = None,
        bind: str = "127.0.0.1",
        tls: ServerCertificate | None = None,
        ca_file: Path | None = None,
    ):
        """With `tls`, the server speaks HTTPS with that certificate, which `ca_file` signed."""
        self.data_dir = data_dir
        self.bind = bind  # `--host`; `::` also listens on 127.0.0.1, where `url` points
        self.workers = workers
        self.port = free_port()
        self.tls = tls
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.database_url = fresh_database_url(data_dir)
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        # The protocol suites run without credentials; auth tests turn it on explicitly.
        env["DOCKYARD_AUTH_ENABLED"] = "false"
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dockyard",
                "serve",
                "--host",
                self.bind,
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--db",
                self.database_url,
                "--workers",
                str(self.workers),
                *(
                    ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
                    if self.tls
                    else []
                ),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        # One client for every poll: each top-level httpx.get builds a client (and its TLS
        # context), about 50 ms of CPU, which a startup of several seconds repeats 10 times a
        # second.
        with httpx.Client(timeout=1, verify=self.verify) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dockyard serve exited early:\n{self.log()}")
                try:
                    if http.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        # A server that never answered is not handed to the test, so no fixture stops it.
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"dockyard serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill9(self) -> None:
        """Kill the server and every worker at once, as a crash would."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def dockyard(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the dockyard CLI against this server's data directory and database."""
        env = dict(os.environ)
        env.update(self.extra_env)
        env["DOCKYARD_DATA_DIR"] = str(self.data_dir)
        env["DOCKYARD_DB"] = self.database_url
        # Never the user's own CLI credentials file (another pass of the suite may be running).
        env.setdefault(
            "DOCKYARD_CLI_CONFIG", str(self.data_dir.parent / f"{self.data_dir.name}-cli.json")
        )
        return subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[ServerProcess]]:
    """Start extra servers: `server_factory(workers=2, env={...})` returns a started server."""
    started: list[ServerProcess] = []

    def make(workers: int = 1, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(tmp_path_factory.mktemp("dockyard"), workers=workers, env=env)
        server.start()
        started.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server shared by the session (two worker processes, sparse indexes off)."""
    srv = ServerProcess(tmp_path_factory.mktemp("dockyard-shared"), workers=2)
    srv.start()
    yield srv
    srv.stop()
    if os.environ.get("DOCKYARD_KEEP_TEST_DATA") != "1":
        shutil.rmtree(srv.data_dir, ignore_errors=True)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture
def repo() -> str:
    """A repository name no other test uses."""
    return f"test/{uuid.uuid4().hex[:10]}"
