"""`/tasks`: saved tasks (a build or a command kept under a name), their manual runs, their
cron timers and the credentials of other registries. Secret values, the git access token and
credential passwords are write-only: no answer carries them (the push webhook's secret only
`/tasks/{name}/webhook-secret`, task_hooks.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from dockyard.access.principals import Principal
from dockyard.access.rights import PUSH
from dockyard.api.management.deps import (
    Access,
    Reader,
    RepositoryRights,
    RepositoryRightsDep,
    Writer,
)
from dockyard.api.management.runs import RunModel, Tasks, run_model
from dockyard.errors import Invalid
from dockyard.spec.run_ids import RUN_ID_PREFIX
from dockyard.tasks.model import DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS
from dockyard.tasks.policy import image_repository
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.task_model import (
    NO_CONTEXT,
    BaseImageTriggerType,
    Credential,
    RunOverrides,
    SavedTask,
    TaskSpec,
    TaskStatus,
    Timer,
)
from dockyard.tasks.task_spec import render

router = APIRouter(tags=["tasks"])
DEFAULT_TIMER = "t1"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such task (or timer, or credential)"}
}
# Fields a task always has: null in an update leaves them unchanged.
REQUIRED_FIELDS = (
    "context",
    "images",
    "values",
    "secret_values",
    "timeout",
    "status",
    "commit_trigger_enabled",
    "base_image_trigger_enabled",
    "base_image_trigger_type",
)
PLATFORM = r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimerCreate(_Model):
    name: str = Field(default=DEFAULT_TIMER, description="1-50 letters, digits, '-' or '_'")
    schedule: str = Field(description="5-field cron, UTC", examples=["0 3 * * *"])
    enabled: bool = True


class TimerUpdate(_Model):
    schedule: str | None = None
    enabled: bool | None = None


class TimerModel(_Model):
    name: str
    schedule: str
    enabled: bool
    last_fired_at: datetime | None
    last_run_id: str | None
    next_firing_times: list[datetime] = Field(description="The next slots, UTC")


class CredentialCreate(_Model):
    login_server: str = Field(examples=["registry.example.com"])
    username: str
    password: str = Field(description="Stored; never answered")


class CredentialModel(_Model):
    login_server: str
    username: str
    created_at: datetime


class _TaskFields(_Model):
    file: str | None = Field(default=None, description="A Dockerfile in the context")
    cmd: str | None = Field(default=None, description="'<image> <args...>' to run")
    images: list[str] | None = Field(
        default=None, description="repository[:tag]; {{.Run.ID}} and {{.Values.x}} resolved"
    )
    timeout: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    platform: str | None = Field(default=None, pattern=PLATFORM)
    engine: str | None = None
    status: TaskStatus | None = None
    commit_trigger_enabled: bool | None = None
    base_image_trigger_enabled: bool | None = None
    base_image_trigger_type: BaseImageTriggerType | None = None
    git_access_token: str | None = Field(
        default=None, description="For a private git context; stored, never answered"
    )
    webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="Of the push webhook (made when the commit trigger is switched on); "
        "shown only by GET /tasks/{name}/webhook-secret",
    )


class TaskCreate(_TaskFields):
    name: str = Field(description="5-50 letters, digits or '-'")
    context: str = Field(
        default=NO_CONTEXT, description="A git URL (#branch:folder), a tarball URL, or / for none"
    )
    values: dict[str, str] = Field(default_factory=dict)
    secret_values: dict[str, str] = Field(
        default_factory=dict, description="Stored; only their names are answered"
    )
    timers: list[TimerCreate] = Field(default_factory=list)


class TaskUpdate(_TaskFields):
    context: str | None = None
    values: dict[str, str | None] | None = Field(default=None, description="Merged; null removes")
    secret_values: dict[str, str | None] | None = Field(
        default=None, description="Merged; null removes"
    )


class TaskModel(_Model):
    name: str
    status: TaskStatus
    context: str
    file: str | None
    cmd: str | None
    images: list[str]
    values: dict[str, str]
    secret_value_names: list[str]
    timeout: int
    platform: str | None
    engine: str | None
    commit_trigger_enabled: bool
    base_image_trigger_enabled: bool
    base_image_trigger_type: BaseImageTriggerType
    git_access_token_set: bool
    webhook_secret_set: bool
    last_commit: str | None = Field(description="The branch head the commit trigger saw last")
    last_trigger_error: str | None = Field(
        description="Why the last trigger (timer, commit, base image) could not start a run; "
        "cleared when a trigger starts one"
    )
    last_trigger_error_at: datetime | None
    owner: str
    created_at: datetime
    updated_at: datetime
    timers: list[TimerModel]


class TaskRunCreate(_Model):
    values: dict[str, str] = Field(default_factory=dict, description="Override the task's")
    secret_values: dict[str, str] = Field(default_factory=dict)
    source: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="An uploaded context (POST /runs/sources) in place of the task's",
    )
    timeout: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)


def _saved(tasks: Tasks) -> SavedTasks:
    return tasks.saved  # built once, with the task service


Saved = Annotated[SavedTasks, Depends(_saved)]


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def timer_model(timer: Timer) -> TimerModel:
    return TimerModel(
        name=timer.name,
        schedule=timer.schedule,
        enabled=timer.enabled,
        last_fired_at=None if timer.last_fired_at is None else _time(timer.last_fired_at),
        last_run_id=timer.last_run_id,
        next_firing_times=[_time(t) for t in timer.upcoming()],
    )


def task_model(task: SavedTask, timers: list[Timer]) -> TaskModel:
    spec = task.spec
    return TaskModel(
        name=task.name,
        status=spec.status,
        context=spec.context,
        file=spec.file,
        cmd=spec.cmd,
        images=list(spec.images),
        values=dict(spec.values),
        secret_value_names=sorted(spec.secret_values),
        timeout=spec.timeout,
        platform=spec.platform,
        engine=spec.engine,
        commit_trigger_enabled=spec.commit_trigger_enabled,
        base_image_trigger_enabled=spec.base_image_trigger_enabled,
        base_image_trigger_type=spec.base_image_trigger_type,
        git_access_token_set=bool(spec.git_access_token),
        webhook_secret_set=bool(spec.webhook_secret),
        last_commit=task.last_commit,
        last_trigger_error=task.last_trigger_error,
        last_trigger_error_at=None
        if task.last_trigger_error_at is None
        else _time(task.last_trigger_error_at),
        owner=task.owner,
        created_at=_time(task.created_at),
        updated_at=_time(task.updated_at),
        timers=[timer_model(t) for t in timers],
    )


def credential_model(credential: Credential) -> CredentialModel:
    return CredentialModel(
        login_server=credential.login_server,
        username=credential.username,
        created_at=_time(credential.created_at),
    )


def _require_push(rights: RepositoryRights, principal: Principal, spec: TaskSpec) -> None:
    """The caller may push what the task pushes (its triggered runs push as the caller)."""
    if spec.cmd is not None:
        return
    for image in spec.images:
        resolved = render(image, spec.values).replace("{{.Run.ID}}", f"{RUN_ID_PREFIX}1")
        repository, _ = image_repository(resolved)
        rights.require(principal, repository, PUSH)


def _show(saved: SavedTasks, name: str) -> TaskModel:
    return task_model(saved.definitions.get(name), saved.timers.of(name))


@router.post("/tasks", status_code=201, responses={409: {"description": "The name is taken"}})
def create_task(
    body: TaskCreate,
    principal: Writer,
    saved: Saved,
    access: Access,
    rights: RepositoryRightsDep,
) -> TaskModel:
    """Save a task: a Dockerfile build (`file`, with a context URL) or a command (`cmd`)."""
    fields = body.model_dump(exclude={"name", "timers"}, exclude_none=True)
    fields.setdefault("timeout", DEFAULT_TIMEOUT_SECONDS)
    spec = TaskSpec(**fields)
    _require_push(rights, principal, spec)
    schedules = {timer.name: timer.schedule for timer in body.timers}
    if len(schedules) != len(body.timers):
        raise Invalid("timer names must differ")
    saved.definitions.create(body.name, spec, principal.id, schedules)
    for timer in body.timers:
        if not timer.enabled:
            saved.timers.update(body.name, timer.name, enabled=False)
    access.audit.record("task.create", principal.id, "ok", task=body.name)
    return _show(saved, body.name)


@router.get("/tasks")
def list_tasks(_: Reader, saved: Saved) -> list[TaskModel]:
    timers: dict[str, list[Timer]] = {}
    for timer in saved.timers.of():
        timers.setdefault(timer.task, []).append(timer)
    return [task_model(task, timers.get(task.name, [])) for task in saved.definitions.all()]


@router.get("/tasks/{name}", responses=NOT_FOUND)
def get_task(name: str, _: Reader, saved: Saved) -> TaskModel:
    return _show(saved, name)


@router.patch("/tasks/{name}", responses=NOT_FOUND)
def update_task(
    name: str,
    body: TaskUpdate,
    principal: Writer,
    saved: Saved,
    access: Access,
    rights: RepositoryRightsDep,
) -> TaskModel:
    """Change some of a task's fields; `values` and `secret_values` are merged."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for key in REQUIRED_FIELDS:  # null leaves these as they are
        if key in changes and changes[key] is None:
            del changes[key]
    for key in ("file", "cmd"):  # one replaces the other
        if changes.get(key) is not None:
            changes[{"file": "cmd", "cmd": "file"}[key]] = None
    current = saved.definitions.get(name).spec
    values = {**current.values, **(changes.get("values") or {})}
    _require_push(
        rights,
        principal,
        TaskSpec(
            cmd=changes.get("cmd", current.cmd),
            images=changes.get("images") or current.images,
            values={k: v for k, v in values.items() if v is not None},
        ),
    )
    saved.definitions.update(name, changes)
    access.audit.record("task.update", principal.id, "ok", task=name, fields=sorted(changes))
    return _show(saved, name)


@router.delete("/tasks/{name}", status_code=204, responses=NOT_FOUND)
def delete_task(name: str, principal: Writer, saved: Saved, access: Access) -> Response:
    """Delete a task with its timers and credentials (its runs stay)."""
    saved.definitions.delete(name)
    access.audit.record("task.delete", principal.id, "ok", task=name)
    return Response(status_code=204)


@router.post("/tasks/{name}/runs", status_code=201, responses=NOT_FOUND)
def run_task(
    name: str,
    body: TaskRunCreate,
    principal: Writer,
    saved: Saved,
    access: Access,
    rights: RepositoryRightsDep,
) -> RunModel:
    """Run a task now (trigger `manual`), optionally with other values or context."""
    _require_push(rights, principal, saved.definitions.get(name).spec)
    overrides = RunOverrides(
        values=dict(body.values),
        secret_values=dict(body.secret_values),
        source=body.source,
        timeout=body.timeout,
    )
    run = saved.definitions.run(name, principal.id, overrides)
    access.audit.record("task.run", principal.id, "ok", task=name, run_id=run.run_id)
    return run_model(run)


@router.get("/tasks/{name}/runs", responses=NOT_FOUND)
def list_task_runs(
    name: str,
    _: Reader,
    saved: Saved,
    tasks: Tasks,
    top: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[RunModel]:
    """The task's runs, newest first."""
    saved.definitions.get(name)
    return [run_model(run) for run in tasks.runs.recent(top, task_name=name)]


# --- timers -----------------------------------------------------------------------------------


@router.get("/tasks/{name}/timers", responses=NOT_FOUND)
def list_timers(name: str, _: Reader, saved: Saved) -> list[TimerModel]:
    return [timer_model(t) for t in saved.timers.of(name)]


@router.post("/tasks/{name}/timers", status_code=201, responses=NOT_FOUND)
def add_timer(
    name: str, body: TimerCreate, principal: Writer, saved: Saved, access: Access
) -> TimerModel:
    timer = saved.timers.add(name, body.name, body.schedule, body.enabled)
    access.audit.record("task.timer.add", principal.id, "ok", task=name, timer=body.name)
    return timer_model(timer)


@router.patch("/tasks/{name}/timers/{timer}", responses=NOT_FOUND)
def update_timer(
    name: str, timer: str, body: TimerUpdate, principal: Writer, saved: Saved, access: Access
) -> TimerModel:
    """A new schedule, or enabling again, counts from now."""
    updated = saved.timers.update(name, timer, body.schedule, body.enabled)
    access.audit.record("task.timer.update", principal.id, "ok", task=name, timer=timer)
    return timer_model(updated)


@router.delete("/tasks/{name}/timers/{timer}", status_code=204, responses=NOT_FOUND)
def remove_timer(
    name: str, timer: str, principal: Writer, saved: Saved, access: Access
) -> Response:
    saved.timers.remove(name, timer)
    access.audit.record("task.timer.remove", principal.id, "ok", task=name, timer=timer)
    return Response(status_code=204)


# --- credentials ------------------------------------------------------------------------------


@router.get("/tasks/{name}/credentials", responses=NOT_FOUND)
def list_credentials(name: str, _: Reader, saved: Saved) -> list[CredentialModel]:
    return [credential_model(c) for c in saved.secrets.credentials(name)]


@router.post("/tasks/{name}/credentials", status_code=201, responses=NOT_FOUND)
def add_credential(
    name: str, body: CredentialCreate, principal: Writer, saved: Saved, access: Access
) -> CredentialModel:
    credential = saved.secrets.add_credential(name, body.login_server, body.username, body.password)
    access.audit.record(
        "task.credential.add", principal.id, "ok", task=name, login_server=body.login_server
    )
    return credential_model(credential)


@router.delete("/tasks/{name}/credentials/{login_server}", status_code=204, responses=NOT_FOUND)
def remove_credential(
    name: str, login_server: str, principal: Writer, saved: Saved, access: Access
) -> Response:
    saved.secrets.remove_credential(name, login_server)
    access.audit.record(
        "task.credential.remove", principal.id, "ok", task=name, login_server=login_server
    )
    return Response(status_code=204)
