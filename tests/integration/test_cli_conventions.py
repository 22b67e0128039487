"""What a newcomer (and an `az acr` user) expects of the `dockyard` command, run as a user runs
it: a subprocess with no stored login, no $DOCKYARD_REGISTRY and no COLUMNS, its output piped.

- With nothing naming a registry it uses the local quick start (start.sh's address), and says
  so on stderr; `scripts/link-cli.sh` (run by start.sh) makes `dockyard` a shell command.
- Positional arguments where `az acr` takes them, one option name per concept, the old
  spellings as hidden aliases.
- Table headings are the JSON fields of `-o json`.
- `dockyard build` checks image names before packing anything, and a run's outcome is said
  once.
- Piped output is never wrapped at 80 columns.

The quick-start address is one constant (`dockyard.cli.client.QUICK_START_REGISTRY`); the
registry there may be anyone's, so the CLI runs here with that constant pointed at the test
server, and a check in-process ties the constant to `dockyard serve`'s defaults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dockyard.config import ServerSettings
from tests.conftest import ServerProcess
from tests.integration.helpers import push_image

REPO_ROOT = Path(__file__).resolve().parents[2]
# The CLI's entry point, with the quick-start address pointed elsewhere (argv[1]).
BOOTSTRAP = (
    "import sys\n"
    "import dockyard.cli.client as client\n"
    "client.QUICK_START_REGISTRY = sys.argv.pop(1)\n"
    "from dockyard.cli.main import main\n"
    "sys.argv[0] = 'dockyard'\n"
    "main()\n"
)
NARROW = 80


@dataclass
class Newcomer:
    """The CLI as a newcomer runs it: nothing stored, nothing in the environment, piped."""

    quick_start: str
    home: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DOCKYARD_") and k not in ("COLUMNS", "LINES")
        }
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"))
        env["PYTHONIOENCODING"] = "utf-8"
        return subprocess.run(
            [sys.executable, "-c", BOOTSTRAP, self.quick_start, *args],
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=180,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(*args)
        assert done.returncode == 0, f"dockyard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json").stdout)


def newcomer(server: ServerProcess, tmp_path: Path) -> Newcomer:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return Newcomer(server.url, home)


def headings(output: str) -> list[str]:
    """The column headings of the last table in `output` (rich's heavy header row)."""
    rows = [line for line in output.splitlines() if line.startswith("┃")]
    assert rows, f"no table in:\n{output}"
    return [cell.strip() for cell in rows[-1].strip("┃").split("┃")]


def test_the_quick_start_registry_is_the_default(server: ServerProcess, tmp_path: Path) -> None:
    from dockyard.cli.client import QUICK_START_REGISTRY

    defaults = ServerSettings.model_fields
    serve_default = f"http://{defaults['host'].default}:{defaults['port'].default}"
    assert serve_default == QUICK_START_REGISTRY
    cli = newcomer(server, tmp_path)
    assert not (cli.home / ".config" / "dockyard").exists()

    listed = cli.ok("repository", "list", "-o", "json")
    assert isinstance(json.loads(listed.stdout), list)
    assert f"using the local quick-start registry {server.url}" in listed.stderr

    # Nothing serving there: the error names the address tried and how to start or leave it.
    nowhere = Newcomer("http://127.0.0.1:1", cli.home).run("repository", "list")
    assert nowhere.returncode == 1
    assert "cannot reach http://127.0.0.1:1" in nowhere.stderr
    assert "using the local quick-start registry http://127.0.0.1:1" in nowhere.stderr


def test_link_cli_puts_dockyard_on_the_path_or_says_the_command(tmp_path: Path) -> None:
    venv_cli = tmp_path / "venv" / "bin" / "dockyard"
    venv_cli.parent.mkdir(parents=True)
    venv_cli.write_text("#!/bin/sh\necho dockyard-here\n")
    venv_cli.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    local_bin = home / ".local" / "bin"
    system_path = "/usr/bin:/bin"

    def link(path: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "link-cli.sh"), str(venv_cli)],
            env={"HOME": str(home), "PATH": path},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )

    # No folder of PATH can take it: the exact command to use instead.
    told = link(system_path)
    assert str(venv_cli) in told.stderr
    assert f'export PATH="{venv_cli.parent}:$PATH"' in told.stderr
    assert not local_bin.exists()

    # ~/.local/bin on PATH (made when missing): linked there, and the shell finds it.
    linked = link(f"{local_bin}:{system_path}")
    assert (local_bin / "dockyard").resolve() == venv_cli.resolve()
    assert "the dockyard command is ready" in linked.stderr
    found = subprocess.run(
        ["bash", "-c", "dockyard"],
        env={"HOME": str(home), "PATH": f"{local_bin}:{system_path}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert found.stdout == "dockyard-here\n"


def test_positional_arguments_and_hidden_aliases(
    server: ServerProcess, client: httpx.Client, repo: str, tmp_path: Path
) -> None:
    cli = newcomer(server, tmp_path)
    image = push_image(client, repo, "v1")

    by_option = cli.json("repository", "show", "--repository", repo)
    assert by_option["imageName"] == repo
    assert cli.json("repository", "show", repo) == by_option
    # An image first, as docker names it (with this registry's host), is a tag's attributes.
    tag = cli.json("repository", "show", f"{server.host}/{repo}:v1")
    assert tag["tag"]["digest"] == image.digest

    # `az acr manifest show`: the manifest itself, as pushed.
    shown = cli.ok("manifest", "show", f"{repo}:v1")
    assert json.loads(shown.stdout) == json.loads(image.body)
    # -n/--name, `az acr manifest`'s spelling, still works without showing in --help.
    metadata = cli.json("manifest", "show-metadata", "-n", f"{repo}@{image.digest}")
    assert metadata["manifest"]["digest"] == image.digest
    # `az role assignment`'s --assignee; the first spelling, --principal, still works.
    assert cli.json("role", "list", "--assignee", "nobody") == []
    assert cli.json("role", "list", "--principal", "nobody") == []

    missing = cli.run("repository", "show")
    assert missing.returncode == 1
    assert "give one repository or image" in missing.stderr

    # Piped, an error longer than 80 columns stays on one line.
    unknown = f"{repo}/{'long-name-' * 12}"
    failed = cli.run("repository", "show", unknown)
    assert failed.returncode == 1
    error = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, failed.stderr
    assert unknown in error[0]
    assert len(error[0]) > NARROW


def test_table_headings_are_the_json_fields(
    server: ServerProcess, client: httpx.Client, repo: str, tmp_path: Path
) -> None:
    cli = newcomer(server, tmp_path)
    image = push_image(client, repo, "v1")
    push_image(client, repo, "v2")

    listings: list[tuple[tuple[str, ...], Callable[[Any], list[dict[str, Any]]]]] = [
        (("repository", "show-tags", repo, "--detail"), lambda found: found),
        (("repository", "show-manifests", repo), lambda found: found),
        (("manifest", "list-metadata", repo), lambda found: found),
        (("show-usage", "--repository", repo), lambda usage: usage["repositories"]),
    ]
    tables = {}
    for args, items_of in listings:
        tables[args[:2]] = table = cli.ok(*args).stdout
        fields = headings(table)
        items = items_of(cli.json(*args))
        assert items, args
        for item in items:
            assert set(fields) <= set(item), f"{args}: {fields} not all in {sorted(item)}"

    # Piped, a table wider than 80 columns is not squeezed: each row on one line.
    rows = tables[("manifest", "list-metadata")].splitlines()
    assert any(image.digest in row and len(row) > NARROW for row in rows)


def test_build_checks_image_names_first_and_says_the_outcome_once(
    server: ServerProcess, repo: str, tmp_path: Path
) -> None:
    cli = newcomer(server, tmp_path)
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    (context / "hello.txt").write_text("hello\n")

    bad = cli.run("build", "-t", "Bad Name", str(context))
    assert bad.returncode == 1
    assert "invalid image name 'Bad Name'" in bad.stderr
    # Refused before anything was packed or sent.
    assert "Packed" not in bad.stderr
    assert "Uploading" not in bad.stderr

    built = cli.ok("build", "-t", f"{repo}:{{{{.Run.ID}}}}", str(context))
    last_line = built.stdout.rstrip().splitlines()[-1]
    run_id = last_line.split()[1]
    assert last_line.startswith(f"Run {run_id} succeeded after "), built.stdout
    # The log said how the run ended; the CLI does not say it again.
    assert "Succeeded" not in built.stderr
    assert "succeeded" not in built.stderr

    # The runs' table shows fields of their JSON too.
    fields = headings(cli.ok("task", "list-runs", "--top", "1").stdout)
    (run,) = cli.json("task", "list-runs", "--top", "1")
    assert run["run_id"] == run_id
    assert set(fields) <= set(run), f"{fields} not all in {sorted(run)}"
