"""`/tasks`: saved tasks (a build or a command kept under a name), their manual runs, their
cron timers and the credentials of other registries. Secret values, the git access token and
credential passwords are write-only: no answer carries them (the push webhook's secret only
`/tasks/{name}/webhook-secret`, task_hooks.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from dockyard.access.principals import Principal
from dockyard.access.rights import PUSH
from dockyard.api.management.deps import (
    Access,
    Reader,
    RepositoryRights,
    RepositoryRightsDep,
    Writer,
)
from dockyard.api.management.runs import Tasks, run_model
from dockyard.errors import Invalid
from dockyard.spec.run_ids import RUN_ID_PREFIX
from dockyard.tasks.model import DEFAULT_TIMEOUT_SECONDS
from dockyard.tasks.policy import image_repository
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.task_model import (
    BaseImageTriggerType,
    Credential,
    RunOverrides,
    SavedTask,
    TaskSpec,
    TaskStatus,
    Timer,
)
from dockyard.tasks.task_spec import render

# The bodies live in dockyard.wire (shared with the CLI).
from dockyard.wire import tasks as wire
from dockyard.wire.runs import RunModel
from dockyard.wire.tasks import (
    CredentialCreate,
    CredentialModel,
    TaskCreate,
    TaskModel,
    TaskRunCreate,
    TaskUpdate,
    TimerCreate,
    TimerModel,
    TimerUpdate,
)

router = APIRouter(tags=["tasks"])
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
        status=wire.TaskStatus(spec.status.value),
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
        base_image_trigger_type=wire.BaseImageTriggerType(spec.base_image_trigger_type.value),
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


def _wing_members(fields: dict[str, Any]) -> dict[str, Any]:
    """A body's fields with the wire's enumerations as the tasks wing's members."""
    if fields.get("status") is not None:
        fields["status"] = TaskStatus(fields["status"])
    if fields.get("base_image_trigger_type") is not None:
        fields["base_image_trigger_type"] = BaseImageTriggerType(fields["base_image_trigger_type"])
    return fields


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
    fields = _wing_members(body.model_dump(exclude={"name", "timers"}, exclude_none=True))
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
    changes = _wing_members(body.model_dump(exclude_unset=True))
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
