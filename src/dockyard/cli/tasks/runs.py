"""`dockyard task`: the runs of builds and commands, in the spirit of `az acr task list-runs`,
`show-run`, `logs` and `cancel-run`."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dockyard.cli.access.common import Columns, print_answer, print_table, when
from dockyard.cli.client import CliError
from dockyard.cli.conventions import one_of
from dockyard.cli.remote import Login, Output, remote
from dockyard.cli.tasks.follow import copy_log, duration, follow_to_end

if TYPE_CHECKING:
    from dockyard.cli.api_client import DockyardApi
    from dockyard.wire.runs import RunModel, StepModel

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


RUNS_TABLE = Columns(
    "runs",
    ("run_id", "kind", "status", "trigger", "created_at", "duration_seconds", "images"),
    {"created_at": when, "duration_seconds": duration, "images": ", ".join},
)


def _show(run: RunModel) -> None:
    rows: list[tuple[str, Any]] = [
        ("run id", run.run_id),
        ("kind", run.kind),
        ("status", run.status),
        ("trigger", " ".join(filter(None, (run.trigger, run.trigger_detail)))),
        ("task", run.task_name or ""),
        ("trigger chain", " -> ".join(run.trigger_chain)),
        ("git", " ".join(filter(None, (run.branch, run.commit)))),
        ("created", when(run.created_at)),
        ("started", when(run.started_at)),
        ("finished", when(run.finished_at)),
        ("duration", duration(run.duration_seconds)),
        ("platform", run.platform or ""),
        ("engine", run.engine or ""),
        ("worker", run.worker or ""),
        ("timeout", f"{run.timeout} s"),
        ("images", ", ".join(run.images)),
    ]
    for image in run.output_images:
        rows.append(("pushed", f"{image.repository}:{image.tag or ''} {image.digest}"))
    for base in run.base_images:
        stage = base.name or base.stage
        runtime = " (runtime)" if base.runtime else ""
        digest = f" {base.digest}" if base.digest else ""
        rows.append(("base image", f"{base.image}{digest} [stage {stage}]{runtime}"))
    if run.error:
        rows.append(("error", run.error))
    print_table(f"run {run.run_id}", ("", "value"), rows)
    if run.steps:
        print_table(
            "steps",
            ("step", "kind", "status", "duration", "detail"),
            [_step_row(step) for step in run.steps],
        )


def _step_row(step: StepModel) -> tuple[str, str, str, str, str]:
    took = ""
    if step.started_at and step.finished_at:
        took = duration((step.finished_at - step.started_at).total_seconds())
    detail = step.error or ", ".join(step.images)
    if step.detached:
        detail = "detached" + (f"; {detail}" if detail else "")
    return (step.id, step.kind, step.status, took, detail)


def _newest_run_id(api: DockyardApi) -> str:
    runs = api.list_runs(top=1)
    if not runs:
        raise CliError("there are no runs yet")
    return runs[0].run_id


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
    with login.api() as api:
        runs = api.list_runs(top, None if status is None else status.value)
    print_answer(runs, output, RUNS_TABLE.print)


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
    with login.api() as api:
        run = api.get_run(chosen)
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
    with login.api() as api:
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
    with login.api() as api:
        run = api.cancel_run(chosen)
    print_answer(run, output, lambda found: typer.echo(f"run {found.run_id}: {found.status}"))
