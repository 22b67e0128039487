"""`dockyard task create|update|show|list|delete|run`, `task timer ...` and `task credential
...`: saved tasks, in the spirit of `az acr task`. They talk to `/api/v1/tasks`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from dockyard.cli.access.common import (
    Columns,
    YesOption,
    confirm,
    print_answer,
    print_secret,
    print_table,
    when,
)
from dockyard.cli.client import API_PREFIX
from dockyard.cli.remote import Login, Output, remote
from dockyard.cli.tasks.follow import follow_to_end
from dockyard.cli.tasks.taskfile import merged_values, parse_pairs

if TYPE_CHECKING:
    from dockyard.wire.runs import RunModel
    from dockyard.wire.tasks import TaskModel, TimerModel, WebhookSecretModel

timer_app = typer.Typer(help="Cron timers of a saved task (5 fields, UTC).", no_args_is_help=True)
credential_app = typer.Typer(
    help="Credentials of other registries for a saved task.", no_args_is_help=True
)


class TriggerType(StrEnum):
    Runtime = "Runtime"
    All = "All"


class Status(StrEnum):
    Enabled = "Enabled"
    Disabled = "Disabled"


TaskName = Annotated[str, typer.Option("--name", "-n", help="The task's name", show_default=False)]
TimerName = Annotated[str, typer.Option("--timer-name", help="The timer's name")]
LoginServer = Annotated[
    str, typer.Option("--login-server", help="The other registry, e.g. registry.example.com")
]
Context = Annotated[
    str | None,
    typer.Option("--context", "-c", help="A git URL (#branch:folder), a tarball URL, or /"),
]
File = Annotated[str | None, typer.Option("--file", "-f", help="The Dockerfile in the context")]
Cmd = Annotated[str | None, typer.Option("--cmd", help="'<image> <args...>' to run")]
Images = Annotated[
    list[str] | None, typer.Option("--image", "-t", help="repository[:tag] to push (repeatable)")
]
Sets = Annotated[list[str] | None, typer.Option("--set", help="A value k=v (repeatable)")]
ValuesFile = Annotated[
    str | None, typer.Option("--values", help="A YAML file of values; --set goes over it")
]
SecretSets = Annotated[
    list[str] | None, typer.Option("--secret-set", help="A secret value k=v (repeatable)")
]
Timeout = Annotated[int | None, typer.Option("--timeout", help="Seconds a run may take")]
Platform = Annotated[str | None, typer.Option("--platform", help="e.g. linux/amd64")]
CommitTrigger = Annotated[
    bool | None,
    typer.Option("--commit-trigger-enabled/--commit-trigger-disabled", help="Run on commits"),
]
BaseTrigger = Annotated[
    bool | None,
    typer.Option(
        "--base-image-trigger-enabled/--base-image-trigger-disabled",
        help="Run when a base image is updated",
    ),
]
BaseTriggerType = Annotated[
    TriggerType | None,
    typer.Option("--base-image-trigger-type", help="Runtime (final stage) or All stages"),
]
GitToken = Annotated[
    str | None, typer.Option("--git-access-token", help="For a private git context")
]
WebhookSecret = Annotated[
    str | None,
    typer.Option(
        "--webhook-secret",
        help="The push webhook's secret (made when the commit trigger is switched on)",
    ),
]
Schedule = Annotated[
    str | None, typer.Option("--schedule", help="A timer t1: 5-field cron, UTC, e.g. '0 3 * * *'")
]


def _hook_url(registry: str, name: str) -> str:
    return f"{registry}{API_PREFIX}/tasks/{quote(name, safe='')}/hooks/git"


def _timers_text(timers: list[TimerModel]) -> str:
    return ", ".join(f"{timer.name}: {timer.schedule}" for timer in timers)


def _show(task: TaskModel, registry: str | None = None) -> None:
    rows: list[tuple[str, Any]] = [
        ("name", task.name),
        ("status", task.status),
        ("context", task.context),
        ("file" if task.file else "cmd", task.file or task.cmd),
        ("images", ", ".join(task.images)),
        ("values", ", ".join(f"{k}={v}" for k, v in sorted(task.values.items()))),
        ("secret values", ", ".join(task.secret_value_names)),
        ("timeout", f"{task.timeout} s"),
        ("platform", task.platform or ""),
        ("engine", task.engine or ""),
        ("commit trigger", "enabled" if task.commit_trigger_enabled else "disabled"),
        (
            "base image trigger",
            f"enabled ({task.base_image_trigger_type})"
            if task.base_image_trigger_enabled
            else "disabled",
        ),
        ("git access token", "set" if task.git_access_token_set else ""),
        ("last commit", task.last_commit or ""),
        (
            "last trigger error",
            f"{task.last_trigger_error} ({when(task.last_trigger_error_at)})"
            if task.last_trigger_error
            else "",
        ),
        ("owner", task.owner),
        ("created", when(task.created_at)),
        ("updated", when(task.updated_at)),
    ]
    for timer in task.timers:
        rows.append(("timer", _timer_text(timer)))
    print_table(f"task {task.name}", ("", "value"), rows)
    if registry is not None and task.webhook_secret_set:
        # A plain line, never wrapped, so that it copies cleanly into the git host's settings.
        typer.echo(f"push webhook: {_hook_url(registry, task.name)}")
        typer.echo(f"(its secret: dockyard task webhook-secret -n {task.name})")


def _timer_text(timer: TimerModel) -> str:
    state = "" if timer.enabled else " (disabled)"
    upcoming = ", ".join(when(t) for t in timer.next_firing_times)
    return f"{timer.name}: {timer.schedule}{state}; next {upcoming or '-'}"


def _times(times: list[datetime]) -> str:
    return ", ".join(when(t) for t in times)


TIMERS_TABLE = Columns(
    "timers",
    ("name", "schedule", "enabled", "last_fired_at", "last_run_id", "next_firing_times"),
    {"last_fired_at": when, "next_firing_times": _times},
)
TASKS_TABLE = Columns(
    "tasks",
    ("name", "status", "context", "file", "cmd", "images", "timers"),
    {"images": ", ".join, "timers": _timers_text},
)
CREDENTIALS_TABLE = Columns(
    "credentials", ("login_server", "username", "created_at"), {"created_at": when}
)


def _run_line(run: RunModel) -> None:
    typer.echo(f"run {run.run_id} of task {run.task_name}: {run.status}")


def _enum_value(choice: StrEnum | None) -> str | None:
    return None if choice is None else choice.value


@remote
def create(
    name: TaskName,
    context: Context = "/",
    file: File = None,
    cmd: Cmd = None,
    image: Images = None,
    set_values: Sets = None,
    values_file: ValuesFile = None,
    secret_set: SecretSets = None,
    timeout: Timeout = None,
    platform: Platform = None,
    commit_trigger_enabled: CommitTrigger = None,
    base_image_trigger_enabled: BaseTrigger = None,
    base_image_trigger_type: BaseTriggerType = None,
    git_access_token: GitToken = None,
    webhook_secret: WebhookSecret = None,
    schedule: Schedule = None,
    status: Annotated[Status, typer.Option("--status", help="Enabled or Disabled")] = (
        Status.Enabled
    ),
    *,
    login: Login,
    output: Output,
) -> None:
    """Save a task: a Dockerfile build or a multi-step task file (--file .yaml), or a
    command (--cmd)."""
    from dockyard.wire.tasks import TaskCreate, TimerCreate

    values = merged_values(values_file, parse_pairs("--set", set_values))
    secret_values = parse_pairs("--secret-set", secret_set)
    with login.api() as api:
        request = TaskCreate.model_construct(
            name=name,
            context=context,
            file=file,
            cmd=cmd,
            images=image or None,
            values=values,
            secret_values=secret_values,
            timeout=timeout,
            platform=platform,
            status=status.value,
            commit_trigger_enabled=commit_trigger_enabled,
            base_image_trigger_enabled=base_image_trigger_enabled,
            base_image_trigger_type=_enum_value(base_image_trigger_type),
            git_access_token=git_access_token,
            webhook_secret=webhook_secret,
            timers=[] if schedule is None else [TimerCreate.model_construct(schedule=schedule)],
        )
        task = api.create_task(request)
    print_answer(task, output, lambda t: _show(t, api.registry))


@remote
def update(
    name: TaskName,
    context: Context = None,
    file: File = None,
    cmd: Cmd = None,
    image: Images = None,
    set_values: Sets = None,
    values_file: ValuesFile = None,
    secret_set: SecretSets = None,
    timeout: Timeout = None,
    platform: Platform = None,
    commit_trigger_enabled: CommitTrigger = None,
    base_image_trigger_enabled: BaseTrigger = None,
    base_image_trigger_type: BaseTriggerType = None,
    git_access_token: GitToken = None,
    webhook_secret: WebhookSecret = None,
    status: Annotated[Status | None, typer.Option("--status", help="Enabled or Disabled")] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Change a task; --set and --secret-set add to (or replace) its values."""
    from dockyard.wire.tasks import TaskUpdate

    values = merged_values(values_file, parse_pairs("--set", set_values))
    secret_values = parse_pairs("--secret-set", secret_set)
    with login.api() as api:
        changes = TaskUpdate.model_construct(
            context=context,
            file=file,
            cmd=cmd,
            images=image or None,
            values=values or None,
            secret_values=secret_values or None,
            timeout=timeout,
            platform=platform,
            status=_enum_value(status),
            commit_trigger_enabled=commit_trigger_enabled,
            base_image_trigger_enabled=base_image_trigger_enabled,
            base_image_trigger_type=_enum_value(base_image_trigger_type),
            git_access_token=git_access_token,
            webhook_secret=webhook_secret,
        )
        task = api.update_task(name, changes)
    print_answer(task, output, lambda t: _show(t, api.registry))


@remote
def show(
    name: TaskName,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show a task, with its timers' next firing times (secrets only by name)."""
    with login.api() as api:
        task = api.get_task(name)
    print_answer(task, output, lambda t: _show(t, api.registry))


@remote
def list_tasks(*, login: Login, output: Output) -> None:
    """List the saved tasks."""
    with login.api() as api:
        found = api.list_tasks()
    print_answer(found, output, TASKS_TABLE.print)


@remote
def delete_task(
    name: TaskName,
    yes: YesOption = False,
    *,
    login: Login,
) -> None:
    """Delete a task with its timers and credentials (its runs stay)."""
    confirm(f"Delete task {name}?", yes)
    with login.api() as api:
        api.delete_task(name)
    typer.echo(f"task {name} deleted")


@remote
def run_task(
    name: TaskName,
    set_values: Sets = None,
    values_file: ValuesFile = None,
    secret_set: SecretSets = None,
    timeout: Timeout = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Queue the run and return at once")
    ] = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """Run a task now; --set and --secret-set override its values for this run."""
    values = merged_values(values_file, parse_pairs("--set", set_values))
    secret_values = parse_pairs("--secret-set", secret_set)
    with login.api() as api:
        run = api.run_task(name, values=values, secret_values=secret_values, timeout=timeout)
        if no_wait or output == Output.json:
            print_answer(run, output, _run_line)
            return
        _run_line(run)
        code = follow_to_end(api, run.run_id)
    if code:
        raise typer.Exit(code)


@remote
def webhook_secret(
    name: TaskName,
    renew: Annotated[
        bool, typer.Option("--renew", help="Replace the secret with a new random one")
    ] = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show the push webhook of a task (URL and secret) to set up at the git host: GitHub's
    webhook secret, or GitLab's secret token; content type application/json."""
    with login.api() as api:
        hook = api.renew_task_webhook_secret(name) if renew else api.get_task_webhook_secret(name)

    def show_hook(found: WebhookSecretModel) -> None:
        print_secret("url", found.url)
        print_secret("secret", found.secret)
        typer.echo("events: push; content type: application/json")

    print_answer(hook, output, show_hook)


# --- timers -----------------------------------------------------------------------------------


@timer_app.command("add")
@remote
def timer_add(
    name: TaskName,
    schedule: Annotated[str, typer.Option("--schedule", help="5-field cron, UTC")],
    timer_name: TimerName = "t1",
    enabled: Annotated[bool, typer.Option("--enabled/--disabled")] = True,
    *,
    login: Login,
    output: Output,
) -> None:
    """Add a timer to a task."""
    with login.api() as api:
        timer = api.add_timer(name, timer_name, schedule, enabled)
    print_answer(timer, output, TIMERS_TABLE.print_one)


@timer_app.command("update")
@remote
def timer_update(
    name: TaskName,
    timer_name: TimerName = "t1",
    schedule: Annotated[str | None, typer.Option("--schedule", help="5-field cron")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Change a timer's schedule, or enable or disable it."""
    with login.api() as api:
        timer = api.update_timer(name, timer_name, schedule, enabled)
    print_answer(timer, output, TIMERS_TABLE.print_one)


@timer_app.command("remove")
@remote
def timer_remove(
    name: TaskName,
    timer_name: TimerName = "t1",
    *,
    login: Login,
) -> None:
    """Remove a timer from a task."""
    with login.api() as api:
        api.remove_timer(name, timer_name)
    typer.echo(f"timer {timer_name} of task {name} removed")


@timer_app.command("list")
@remote
def timer_list(
    name: TaskName,
    *,
    login: Login,
    output: Output,
) -> None:
    """List a task's timers with their next firing times."""
    with login.api() as api:
        timers = api.list_timers(name)
    print_answer(timers, output, TIMERS_TABLE.print)


# --- credentials ------------------------------------------------------------------------------


@credential_app.command("add")
@remote
def credential_add(
    name: TaskName,
    login_server: LoginServer,
    cred_username: Annotated[str, typer.Option("--cred-username", help="Its username")],
    cred_password: Annotated[
        str, typer.Option("--cred-password", help="Its password", prompt=True, hide_input=True)
    ],
    *,
    login: Login,
    output: Output,
) -> None:
    """Add the credential of another registry to a task (the password is never shown)."""
    with login.api() as api:
        found = api.add_credential(name, login_server, cred_username, cred_password)
    print_answer(found, output, lambda c: typer.echo(f"credential for {c.login_server} added"))


@credential_app.command("list")
@remote
def credential_list(
    name: TaskName,
    *,
    login: Login,
    output: Output,
) -> None:
    """List a task's credentials (login servers and usernames)."""
    with login.api() as api:
        found = api.list_credentials(name)
    print_answer(found, output, CREDENTIALS_TABLE.print)


@credential_app.command("remove")
@remote
def credential_remove(
    name: TaskName,
    login_server: LoginServer,
    *,
    login: Login,
) -> None:
    """Remove a task's credential for a registry."""
    with login.api() as api:
        api.remove_credential(name, login_server)
    typer.echo(f"credential for {login_server} of task {name} removed")


def register(task_app: typer.Typer) -> None:
    """Add the saved-task commands to `dockyard task`."""
    task_app.command("create")(create)
    task_app.command("update")(update)
    task_app.command("show")(show)
    task_app.command("list")(list_tasks)
    task_app.command("delete")(delete_task)
    task_app.command("run")(run_task)
    task_app.command("webhook-secret")(webhook_secret)
    task_app.add_typer(timer_app, name="timer")
    task_app.add_typer(credential_app, name="credential")
