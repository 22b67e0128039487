"""Task commands, in the spirit of `az acr build`, `az acr run` and `az acr task`: builds and
command runs on the registry's workers, and their runs. They talk to a running registry
over HTTP (`/api/v1/runs`); a local build context is packed here (context.py, honouring
.dockerignore as dockerignore.py reads it) and uploaded first (sources.py)."""

from __future__ import annotations

import typer

from dockyard.cli.tasks.build import build, run
from dockyard.cli.tasks.runs import task_app
from dockyard.cli.tasks.saved import register as register_saved


def register(app: typer.Typer) -> None:
    """Add `build`, `run` and `task` to the `dockyard` command."""
    app.command()(build)
    app.command()(run)
    register_saved(task_app)
    app.add_typer(task_app, name="task")
