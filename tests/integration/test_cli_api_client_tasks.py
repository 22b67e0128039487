"""The CLI's typed client (cli/api_client.py) for saved tasks and runs against a real server,
and the task and run enumerations the wire repeats held to the tasks wing's. (The drift test
of tests/integration/test_cli_api_client.py holds their models to the OpenAPI document.)

Runs stay Queued here (the server's workers claim none), so no build engine is involved."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from dockyard.cli.api_client import DockyardApi, Listing
from dockyard.cli.client import CliError, ManagementClient
from dockyard.cli.tasks import runs as run_commands
from dockyard.cli.tasks import saved as task_commands
from dockyard.tasks import model as run_wing
from dockyard.tasks import task_model as task_wing
from dockyard.wire import runs as wire_runs
from dockyard.wire import tasks as wire_tasks
from dockyard.wire.runs import RunCreate, RunKind, RunModel, RunStatus, Trigger
from dockyard.wire.tasks import (
    BaseImageTriggerType,
    CredentialModel,
    TaskCreate,
    TaskModel,
    TaskStatus,
    TaskUpdate,
    TimerCreate,
    TimerModel,
)
from tests.conftest import ServerProcess

# What is checked is the client and its models; the task API itself is checked on both
# databases by test_saved_tasks.py and test_task_runs.py.
pytestmark = pytest.mark.db_independent

SECRET = "s3cr3t-value-never-shown"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def queue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("typed-tasks"), env={"DOCKYARD_TASKS_ENABLED": "false"}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(queue_server: ServerProcess) -> Iterator[DockyardApi]:
    http = ManagementClient(queue_server.url, None)
    try:
        yield DockyardApi(http)
    finally:
        http.close()


def test_saved_task_round_trip(api: DockyardApi) -> None:
    name = unique("typed")
    created = api.create_task(
        TaskCreate(
            name=name,
            cmd="busybox echo {{.Values.who}}",
            values={"who": "world"},
            secret_values={"pw": SECRET},
            timeout=900,
            base_image_trigger_type=BaseImageTriggerType.ALL,
            timers=[TimerCreate(schedule="0 4 * * *")],
        )
    )
    assert isinstance(created, TaskModel)
    assert (created.status, created.context, created.timeout) == (TaskStatus.ENABLED, "/", 900)
    assert created.base_image_trigger_type == BaseImageTriggerType.ALL
    assert (created.values, created.secret_value_names) == ({"who": "world"}, ["pw"])
    [timer] = created.timers
    assert (timer.name, timer.schedule, timer.enabled) == ("t1", "0 4 * * *", True)
    assert all(isinstance(moment, datetime) for moment in timer.next_firing_times)
    assert SECRET not in created.model_dump_json()

    listed = api.list_tasks()
    assert isinstance(listed, Listing)
    assert listed.model is TaskModel
    assert [task.name for task in listed if task.name == name] == [name]

    updated = api.update_task(name, TaskUpdate(values={"extra": "1"}, status=TaskStatus.DISABLED))
    assert updated.status == TaskStatus.DISABLED
    assert updated.values == {"who": "world", "extra": "1"}  # merged
    assert updated.timeout == 900  # not given: unchanged
    assert api.get_task(name) == updated

    with pytest.raises(CliError, match="404"):
        api.get_task_webhook_secret(name)  # none until made
    made = api.renew_task_webhook_secret(name)
    assert made.url.endswith(f"/api/v1/tasks/{name}/hooks/git")
    assert api.get_task_webhook_secret(name) == made
    assert api.get_task(name).webhook_secret_set

    api.delete_task(name)
    with pytest.raises(CliError, match="404"):
        api.get_task(name)


def test_timers_and_credentials(api: DockyardApi) -> None:
    name = unique("timed")
    api.create_task(TaskCreate(name=name, cmd="busybox true"))
    added = api.add_timer(name, "nightly", "0 3 * * *", enabled=False)
    assert isinstance(added, TimerModel)
    assert (added.name, added.enabled) == ("nightly", False)
    changed = api.update_timer(name, "nightly", "*/10 * * * *", enabled=True)
    assert (changed.schedule, changed.enabled) == ("*/10 * * * *", True)
    assert len(changed.next_firing_times) == 3
    timers = api.list_timers(name)
    assert (timers.model, [t.name for t in timers]) == (TimerModel, ["nightly"])
    with pytest.raises(CliError, match="5-field cron"):
        api.add_timer(name, "bad", "x", enabled=True)
    api.remove_timer(name, "nightly")
    assert api.list_timers(name) == []

    credential = api.add_credential(name, "other.io", "someone", SECRET)
    assert isinstance(credential, CredentialModel)
    assert (credential.login_server, credential.username) == ("other.io", "someone")
    credentials = api.list_credentials(name)
    assert credentials.model is CredentialModel
    assert [c.login_server for c in credentials] == ["other.io"]
    assert SECRET not in str([c.model_dump() for c in credentials])
    api.remove_credential(name, "other.io")
    assert api.list_credentials(name) == []
    api.delete_task(name)


def test_manual_runs_listed_shown_and_canceled(api: DockyardApi) -> None:
    name = unique("manual")
    api.create_task(
        TaskCreate(name=name, cmd="busybox echo {{.Values.who}}", values={"who": "world"})
    )
    run = api.run_task(name, values={"who": "typed"}, timeout=600)
    assert isinstance(run, RunModel)
    assert (run.kind, run.status, run.trigger) == (RunKind.CMD, RunStatus.QUEUED, Trigger.MANUAL)
    assert (run.task_name, run.timeout) == (name, 600)
    assert not run.finished

    assert [r.run_id for r in api.list_task_runs(name, top=5)] == [run.run_id]
    assert api.get_run(run.run_id) == run
    queued = api.list_runs(top=1000, status="Queued")
    assert queued.model is RunModel
    assert run.run_id in {r.run_id for r in queued}

    canceled = api.cancel_run(run.run_id)
    assert canceled.status == RunStatus.CANCELED
    assert canceled.finished
    assert run.run_id in {r.run_id for r in api.list_runs(top=1000, status="Canceled")}
    with pytest.raises(CliError, match="409"):
        api.cancel_run(run.run_id)  # it has ended
    assert b"".join(api.run_log(run.run_id)) == b""  # canceled before it started
    with pytest.raises(CliError, match="unknown status"):
        api.list_runs(top=1, status="Sleeping")
    api.delete_task(name)


def context_archive() -> bytes:
    data = b"FROM scratch\nCOPY hello.txt /\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_quick_runs_with_an_uploaded_context(api: DockyardApi) -> None:
    archive = context_archive()
    uploaded = api.upload_source([archive[:10], archive[10:]], len(archive))
    assert uploaded.source.startswith("sha256:")
    assert uploaded.size == len(archive)

    build = api.create_run(
        RunCreate.model_construct(
            kind="build",
            source=uploaded.source,
            dockerfile="Dockerfile",
            images=["typed/hello:{{.Run.ID}}"],
            build_args={"A": "1"},
            platform="linux/amd64",
            timeout=300,
        )
    )
    assert (build.kind, build.status, build.trigger) == (
        RunKind.BUILD,
        RunStatus.QUEUED,
        Trigger.MANUAL,
    )
    assert build.images == [f"typed/hello:{build.run_id}"]
    assert (build.platform, build.timeout) == ("linux/amd64", 300)

    command = api.create_run(
        RunCreate.model_construct(kind="cmd", cmd="busybox true", images=[], push=False)
    )
    assert command.kind == RunKind.CMD
    assert command.timeout == wire_runs.DEFAULT_TIMEOUT_SECONDS  # not given: the default
    assert api.list_runs(top=1)[0].run_id == command.run_id
    too_long = wire_runs.MAX_TIMEOUT_SECONDS + 1
    with pytest.raises(CliError, match="400"):
        api.create_run(RunCreate.model_construct(kind="cmd", cmd="busybox true", timeout=too_long))
    for run in (build, command):
        assert api.cancel_run(run.run_id).status == RunStatus.CANCELED


# --- what the wire repeats of the tasks wing --------------------------------------------------


def test_the_wire_repeats_the_tasks_wing_value_for_value() -> None:
    pairs = [
        (wire_runs.RunKind, run_wing.RunKind),
        (wire_runs.RunStatus, run_wing.RunStatus),
        (wire_runs.Trigger, run_wing.Trigger),
        (wire_tasks.TaskStatus, task_wing.TaskStatus),
        (wire_tasks.BaseImageTriggerType, task_wing.BaseImageTriggerType),
    ]
    assert [(w.__name__, [*w]) for w, _ in pairs] == [(s.__name__, [*s]) for _, s in pairs]
    assert frozenset(run_wing.FINAL) == wire_runs.FINAL_STATUSES
    assert (wire_runs.MAX_TIMEOUT_SECONDS, wire_runs.DEFAULT_TIMEOUT_SECONDS) == (
        run_wing.MAX_TIMEOUT_SECONDS,
        run_wing.DEFAULT_TIMEOUT_SECONDS,
    )
    assert wire_tasks.NO_CONTEXT == task_wing.NO_CONTEXT
    # The CLI's choices (plain enumerations, so that `--help` loads no pydantic) too.
    assert [*map(str, run_commands.RunStatus)] == [*map(str, wire_runs.RunStatus)]
    assert [*map(str, task_commands.Status)] == [*map(str, wire_tasks.TaskStatus)]
    assert [*map(str, task_commands.TriggerType)] == [*map(str, wire_tasks.BaseImageTriggerType)]
