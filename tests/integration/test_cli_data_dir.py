"""`dockyard gc|check|migrate|worker` run where there is no data folder (#12): they say which
folder they expected and how to point to it, without a traceback and without creating an
empty folder or database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): these commands stop
# before any database is opened, and the tests clear DOCKYARD_DB (both passes would run the same
# thing).
pytestmark = pytest.mark.db_independent

COMMANDS = ["gc", "check", "migrate", "worker"]


def run_dockyard(cwd: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["COLUMNS"] = "250"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"dockyard {' '.join(args)} kept running:\n{exc.stdout!r}\n{exc.stderr!r}")
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def assert_refused(status: int, said: str, folder: Path) -> None:
    assert status != 0, said
    assert f"no Dockyard data folder at {folder}" in said, said
    assert "run `dockyard serve` first, or pass --data-dir / set DOCKYARD_DATA_DIR" in said, said
    assert "Traceback" not in said, said


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_data_dir_is_named_and_not_created(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere" / "data"
    status, said = run_dockyard(tmp_path, command, "--data-dir", str(missing))
    assert_refused(status, said, missing)
    assert not (tmp_path / "nowhere").exists(), f"dockyard {command} created the folder"


@pytest.mark.parametrize("command", COMMANDS)
def test_the_default_data_dir_missing_in_the_current_folder(tmp_path: Path, command: str) -> None:
    status, said = run_dockyard(tmp_path, command)
    assert_refused(status, said, tmp_path / "dockyard-data")
    assert list(tmp_path.iterdir()) == [], f"dockyard {command} created files"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_without_a_database_is_not_taken_for_a_data_dir(
    tmp_path: Path, command: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    status, said = run_dockyard(tmp_path, command, "--data-dir", str(empty))
    assert_refused(status, said, empty)
    assert list(empty.iterdir()) == [], f"dockyard {command} wrote into the folder"


@pytest.mark.parametrize("command", ["serve", *COMMANDS])
def test_an_unreachable_database_server_is_named_without_a_traceback(
    tmp_path: Path, command: str
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://dockyard:s3cret-pw@127.0.0.1:{port}/registry"
    folder = tmp_path / "data"
    folder.mkdir()
    extra = ["--port", str(port)] if command == "serve" else []
    status, said = run_dockyard(tmp_path, command, "--data-dir", str(folder), "--db", url, *extra)
    assert status == 2, said
    shown = f"postgresql+psycopg://dockyard:***@127.0.0.1:{port}/registry"
    assert f"cannot reach the database at {shown}" in said, said
    assert "Connection refused" in said, said
    assert "pass --db / set DOCKYARD_DB" in said, said
    assert "s3cret-pw" not in said, "the database password was printed"
    assert "Traceback" not in said, said
    assert "OperationalError" not in said, said
