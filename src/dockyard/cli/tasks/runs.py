"""`dockyard task`: the runs of builds and commands, in the spirit of `az acr task list-runs`,
`show-run`, `logs` and `cancel-run`."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Column,
    TableView,
    print_answer,
    print_table,
    when,
)
from dockyard.cli.client import CliError, ManagementClient
from dockyard.cli.conventions import one_of
from dockyard.cli.remote import Login, Output, remote
from dockyard.cli.tasks.follow import copy_log, duration, follow_to_end, run_path

task_app = typer.Typer(
    help="Saved tasks (create, run, timers, credentials) and runs: list, show, logs, cancel.",
    no_args_is_help=True,
)


class RunStatus(StrEnum):
    Queued = "Queued"
    Started = "Started"
    Running = "Running"
    Succeeded = "Succeeded"
    Failed = "Failed"
    Canceled = "Canceled"
    Error = "Error"
    Timeout = "Timeout"


RunIdArgument = Annotated[
    str | None, typer.Argument(metavar="RUN_ID", help="The run's ID, e.g. ca1", show_default=False)
]
RunIdOption = Annotated[
    str | None, typer.Option("--run-id", help="The run's ID, e.g. ca1", show_default=False)
]


def _run_id(positional: str | None, option: str | None) -> str:
    return one_of("run", ("RUN_ID", positional), ("--run-id", option))


RUNS_VIEW = TableView(
    "runs",
    (
        "run_id",
        "kind",
        "status",
        "trigger",
        Column("created_at", when),
        Column("duration_seconds", lambda seconds: duration({"duration_seconds": seconds})),
        Column("images", lambda images: ", ".join(images or [])),
    ),
)


def _show(run: dict[str, Any]) -> None:
    rows: list[tuple[str, Any]] = [
        ("run id", run["run_id"]),
        ("kind", run["kind"]),
        ("status", run["status"]),
        ("trigger", " ".join(filter(None, (run["trigger"], run.get("trigger_detail"))))),
        ("task", run.get("task_name") or ""),
        ("trigger chain", " -> ".join(run.get("trigger_chain") or [])),
        ("git", " ".join(filter(None, (run.get("branch"), run.get("commit"))))),
        ("created", when(run["created_at"])),
        ("started", when(run.get("started_at"))),
        ("finished", when(run.get("finished_at"))),
        ("duration", duration(run)),
        ("platform", run.get("platform") or ""),
        ("engine", run.get("engine") or ""),
        ("worker", run.get("worker") or ""),
        ("timeout", f"{run.get('timeout')} s"),
        ("images", ", ".join(run.get("images") or [])),
    ]
    for image in run.get("output_images") or []:
        rows.append(("pushed", f"{image['repository']}:{image.get('tag') or ''} {image['digest']}"))
    for base in run.get("base_images") or []:
        stage = base.get("name") or base.get("stage")
        runtime = " (runtime)" if base.get("runtime") else ""
        digest = f" {base['digest']}" if base.get("digest") else ""
        rows.append(("base image", f"{base['image']}{digest} [stage {stage}]{runtime}"))
    if run.get("error"):
        rows.append(("error", run["error"]))
    print_table(f"run {run['run_id']}", ("", "value"), rows)
    if run.get("steps"):
        print_table(
            "steps",
            ("step", "kind", "status", "duration", "detail"),
            [_step_row(step) for step in run["steps"]],
        )


def _step_row(step: dict[str, Any]) -> tuple[str, str, str, str, str]:
    took = ""
    if step.get("started_at") and step.get("finished_at"):
        started = datetime.fromisoformat(str(step["started_at"]).replace("Z", "+00:00"))
        finished = datetime.fromisoformat(str(step["finished_at"]).replace("Z", "+00:00"))
        took = duration({"duration_seconds": (finished - started).total_seconds()})
    detail = step.get("error") or ", ".join(step.get("images") or [])
    if step.get("detached"):
        detail = "detached" + (f"; {detail}" if detail else "")
    return (step["id"], step["kind"], step["status"], took, detail)


def _newest_run_id(api: ManagementClient) -> str:
    runs = api.get("/runs", {"top": 1})
    if not runs:
        raise CliError("there are no runs yet")
    return str(runs[0]["run_id"])


@task_app.command("list-runs")
@remote
def list_runs(
    top: Annotated[int, typer.Option("--top", min=1, help="How many of the newest runs")] = 15,
    status: Annotated[
        RunStatus | None, typer.Option("--status", help="Only runs with this status")
    ] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List runs, newest first."""
    params: dict[str, Any] = {"top": top}
    if status is not None:
        params["status"] = status.value
    with login.connect() as api:
        runs = api.get("/runs", params)
    print_answer(runs, output, RUNS_VIEW.print)


@task_app.command("show-run")
@remote
def show_run(
    positional: RunIdArgument = None,
    run_id: RunIdOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show a run: status, times, images pushed with their digests, base images, error."""
    chosen = _run_id(positional, run_id)
    with login.connect() as api:
        run = api.get(run_path(chosen))
    print_answer(run, output, _show)


@task_app.command("logs")
@remote
def logs(
    positional: Annotated[
        str | None,
        typer.Argument(
            metavar="RUN_ID", help="The run's ID (default: the newest run)", show_default=False
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="The run's ID (default: the newest run)", show_default=False),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", help="Keep printing until the run ends; exit 1 unless it Succeeded"
        ),
    ] = False,
    *,
    login: Login,
) -> None:
    """Print a run's log (the newest run's without --run-id)."""
    given = None if positional is None and run_id is None else _run_id(positional, run_id)
    with login.connect() as api:
        chosen = given or _newest_run_id(api)
        if follow:
            code = follow_to_end(api, chosen)
            if code:
                raise typer.Exit(code)
            return
        copy_log(api, chosen, sys.stdout.buffer)


@task_app.command("cancel-run")
@remote
def cancel_run(
    positional: RunIdArgument = None,
    run_id: RunIdOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Cancel a queued or running run (its build process tree is stopped)."""
    chosen = _run_id(positional, run_id)
    with login.connect() as api:
        run = api.post(f"{run_path(chosen)}/cancel")
    print_answer(run, output, lambda found: typer.echo(f"run {found['run_id']}: {found['status']}"))
