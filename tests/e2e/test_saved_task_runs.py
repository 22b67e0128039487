"""A saved command task run by hand through the CLI: the worker does it with buildah, the
log streams to the terminal with the run's values, and the run names its task."""

from __future__ import annotations

import pytest

from tests.e2e.test_cli_build import BASE, Cli, cli, registry_server, shown

pytestmark = pytest.mark.e2e
__all__ = ["cli", "registry_server"]  # fixtures


def test_a_saved_command_task_runs_with_overridden_values(cli: Cli) -> None:
    created = cli.json(
        "task", "create", "-n", "saved-cmd",
        "--cmd", f"{BASE} echo {{{{.Values.who}}}}-from-a-saved-task",
        "--set", "who=default", "--secret-set", "unused=hidden-secret",
    )  # fmt: skip
    assert created["cmd"] == f"{BASE} echo {{{{.Values.who}}}}-from-a-saved-task"

    done = cli("task", "run", "-n", "saved-cmd", "--set", "who=override")
    assert done.returncode == 0, shown(done)
    assert "override-from-a-saved-task" in done.stdout
    assert "default-from-a-saved-task" not in done.stdout
    assert "hidden-secret" not in done.stdout + done.stderr

    (run,) = cli.json("task", "list-runs")
    assert (run["status"], run["trigger"], run["task_name"]) == ("Succeeded", "manual", "saved-cmd")
