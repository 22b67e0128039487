"""The CLI is an HTTP client for most of its commands: starting it must not import the
server's stack (SQLAlchemy, the settings model, the ASGI server), which would cost every
run of every command about half a second of CPU."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_STACK = ("sqlalchemy", "pydantic_settings", "granian", "starlette", "dockyard.config")


def test_cli_start_imports_no_server_stack() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; import dockyard.cli.main; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(loaded.stdout)
    heavy = [m for m in modules if m.split(".")[0] in SERVER_STACK or m in SERVER_STACK]
    assert heavy == []
    assert "dockyard.cli.access" in modules  # the commands are registered all the same


def test_cli_start_leaves_the_wire_models_for_the_api_calls() -> None:
    """The typed client imports pydantic and `dockyard.wire` inside its methods: they cost
    about 0.2 s of CPU, which `--help` or `login` should not pay."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; import dockyard.cli.main; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(loaded.stdout)
    assert [
        m for m in modules if m.split(".")[0] == "pydantic" or m.startswith("dockyard.wire")
    ] == []
    assert "dockyard.cli.api_client" in modules
