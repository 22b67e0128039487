"""Saved tasks over HTTP and the CLI: definitions and their checks, secrets that never come
back, timers with their next firing times, a timer missed while no worker ran (it fires
once), and manual runs recorded with their task and trigger. Runs stay queued here (the
server's workers do not claim runs), so no build engine is involved."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.auth_helpers import AuthServer, start_auth_server
from tests.integration.cleanup_helpers import cli, cli_fails, sql, wait_until
from tests.integration.helpers import assert_error, describe

SECRET = "s3cr3t-value-never-shown"
TOKEN = "ghp-token-never-shown"
PASSWORD = "pa55word-never-shown"


@pytest.fixture(scope="module")
def task_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Runs stay Queued (no worker claims them); the worker loop still fires timers."""
    server = ServerProcess(
        tmp_path_factory.mktemp("saved-tasks"),
        env={"DOCKYARD_TASKS_ENABLED": "false", "DOCKYARD_TASK_POLL_SECONDS": "0.3"},
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(task_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=task_server.url + "/api/v1", timeout=60) as client:
        yield client


def create_task(http: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = http.post("/tasks", json=body)
    assert resp.status_code == 201, describe(resp)
    task: dict[str, Any] = resp.json()
    return task


def cmd_task(http: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    return create_task(
        http,
        name=name,
        cmd="busybox echo {{.Values.greeting}}",
        values={"greeting": "hello"},
        secret_values={"token": SECRET},
        **extra,
    )


def runs_of(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    resp = http.get(f"/tasks/{name}/runs")
    assert resp.status_code == 200, describe(resp)
    runs: list[dict[str, Any]] = resp.json()
    return runs


def stored_request(server: ServerProcess, run_id: str) -> dict[str, Any]:
    rows = sql(server, "SELECT request FROM task_runs WHERE run_id = :id", id=run_id)
    request: dict[str, Any] = json.loads(rows[0][0])
    return request


# --- definitions --------------------------------------------------------------------------------


def test_create_show_list_update_delete(http: httpx.Client) -> None:
    created = cmd_task(http, "hello-task", git_access_token=TOKEN, timeout=600)
    assert created["name"] == "hello-task"
    assert created["status"] == "Enabled"
    assert created["cmd"] == "busybox echo {{.Values.greeting}}"
    assert created["values"] == {"greeting": "hello"}
    assert created["secret_value_names"] == ["token"]
    assert created["git_access_token_set"] is True
    assert created["timeout"] == 600
    assert created["base_image_trigger_type"] == "Runtime"
    assert http.get("/tasks/hello-task").json() == created
    assert any(t["name"] == "hello-task" for t in http.get("/tasks").json())

    resp = http.patch(
        "/tasks/hello-task",
        json={
            "status": "Disabled",
            "values": {"other": "x"},
            "secret_values": {"token": None, "key": SECRET},
            "base_image_trigger_enabled": True,
            "base_image_trigger_type": "All",
        },
    )
    assert resp.status_code == 200, describe(resp)
    updated = resp.json()
    assert updated["status"] == "Disabled"
    assert updated["values"] == {"greeting": "hello", "other": "x"}  # merged
    assert updated["secret_value_names"] == ["key"]  # null removed one
    assert updated["base_image_trigger_enabled"] is True
    assert updated["base_image_trigger_type"] == "All"
    assert updated["created_at"] == created["created_at"]
    # A refused change leaves the task as it was; null leaves a field unchanged.
    assert_error(http.patch("/tasks/hello-task", json={"timeout": 10, "status": "Enabled"}), 400)
    assert_error(http.patch("/tasks/hello-task", json={"cmd": "  "}), 400)
    assert http.get("/tasks/hello-task").json() == updated
    resp = http.patch("/tasks/hello-task", json={"timeout": None, "images": None})
    assert resp.status_code == 200, describe(resp)
    assert resp.json()["timeout"] == 600

    assert http.delete("/tasks/hello-task").status_code == 204
    assert_error(http.get("/tasks/hello-task"), 404, "NOT_FOUND")
    assert_error(http.delete("/tasks/hello-task"), 404, "NOT_FOUND")
    assert_error(http.patch("/tasks/hello-task", json={"timeout": 900}), 404, "NOT_FOUND")


def test_secrets_are_never_answered(http: httpx.Client) -> None:
    cmd_task(http, "secret-task", git_access_token=TOKEN)
    http.post(
        "/tasks/secret-task/credentials",
        json={"login_server": "other.example.com", "username": "bob", "password": PASSWORD},
    )
    run = http.post("/tasks/secret-task/runs", json={"secret_values": {"more": SECRET}})
    assert run.status_code == 201, describe(run)
    answers = [
        http.get("/tasks/secret-task"),
        http.get("/tasks"),
        http.patch("/tasks/secret-task", json={"timeout": 900}),
        http.get("/tasks/secret-task/credentials"),
        http.get("/tasks/secret-task/runs"),
        http.get(f"/runs/{run.json()['run_id']}"),
        run,
    ]
    for resp in answers:
        assert resp.status_code in (200, 201), describe(resp)
        for secret in (SECRET, TOKEN, PASSWORD):
            assert secret not in resp.text, f"{secret} in {resp.request.url}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "abcd", "cmd": "busybox true"}, "task name"),  # too short
        ({"name": "a" * 51, "cmd": "busybox true"}, "task name"),
        ({"name": "bad_name", "cmd": "busybox true"}, "task name"),
        ({"name": "no-file-no-cmd"}, "exactly one of file"),
        (
            {
                "name": "both-file-cmd",
                "cmd": "busybox true",
                "file": "Dockerfile",
                "context": "https://example.com/c.tar.gz",
            },
            "exactly one of file",
        ),
        ({"name": "build-no-context", "file": "Dockerfile"}, "needs a context"),
        (
            {
                "name": "bad-image",
                "file": "Dockerfile",
                "context": "https://example.com/c.tar.gz",
                "images": ["UPPER:tag"],
            },
            "is not repository[:tag]",
        ),
        (
            {
                "name": "unknown-value",
                "file": "Dockerfile",
                "context": "https://example.com/c.tar.gz",
                "images": ["app:{{.Values.missing}}"],
            },
            "names no value",
        ),
        ({"name": "short-timeout", "cmd": "busybox true", "timeout": 10}, "timeout"),
        ({"name": "bad-context", "cmd": "busybox true", "context": "ftp://x/y"}, ""),
        (
            {"name": "six-fields", "cmd": "busybox true", "timers": [{"schedule": "0 0 * * * *"}]},
            "5-field cron",
        ),
        (
            {"name": "bad-minute", "cmd": "busybox true", "timers": [{"schedule": "61 * * * *"}]},
            "5-field cron",
        ),
    ],
    ids=lambda v: v["name"] if isinstance(v, dict) else None,
)
def test_invalid_definitions_are_refused(
    http: httpx.Client, body: dict[str, Any], message: str
) -> None:
    resp = http.post("/tasks", json=body)
    errors = assert_error(resp, 400)
    assert message in errors[0]["message"], describe(resp)
    if len(body["name"]) <= 50:
        assert http.get(f"/tasks/{body['name']}").status_code == 404  # nothing saved


def test_duplicate_names_conflict(http: httpx.Client) -> None:
    cmd_task(http, "dup-task")
    resp = http.post("/tasks", json={"name": "dup-task", "cmd": "busybox false"})
    assert_error(resp, 409, "CONFLICT")
    assert http.get("/tasks/dup-task").json()["cmd"] == "busybox echo {{.Values.greeting}}"


# --- timers -------------------------------------------------------------------------------------


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_timers_show_their_next_firing_times(http: httpx.Client) -> None:
    task = cmd_task(http, "timed-task", timers=[{"name": "nightly", "schedule": "0 3 * * *"}])
    (timer,) = task["timers"]
    times = [_parse(t) for t in timer["next_firing_times"]]
    now = datetime.now(UTC)
    assert len(times) == 3
    assert now < times[0] <= now + timedelta(days=1)
    assert all(t.hour == 3 and t.minute == 0 for t in times)
    assert times[1] - times[0] == timedelta(days=1) == times[2] - times[1]

    resp = http.post("/tasks/timed-task/timers", json={"name": "q", "schedule": "*/15  * * * *"})
    assert resp.status_code == 201, describe(resp)
    quarter = [_parse(t) for t in resp.json()["next_firing_times"]]
    assert resp.json()["schedule"] == "*/15 * * * *"
    assert all(t.minute % 15 == 0 for t in quarter)
    assert quarter[1] - quarter[0] == timedelta(minutes=15)
    assert_error(
        http.post("/tasks/timed-task/timers", json={"name": "q", "schedule": "* * * * *"}),
        409,
        "CONFLICT",
    )

    resp = http.patch("/tasks/timed-task/timers/q", json={"enabled": False})
    assert resp.json()["enabled"] is False
    assert resp.json()["next_firing_times"] == []
    resp = http.patch(
        "/tasks/timed-task/timers/q", json={"schedule": "30 12 * * 1", "enabled": True}
    )
    monday = _parse(resp.json()["next_firing_times"][0])
    assert (monday.weekday(), monday.hour, monday.minute) == (0, 12, 30)
    assert [t["name"] for t in http.get("/tasks/timed-task/timers").json()] == ["nightly", "q"]

    assert http.delete("/tasks/timed-task/timers/q").status_code == 204
    assert_error(http.delete("/tasks/timed-task/timers/q"), 404, "NOT_FOUND")
    assert_error(http.patch("/tasks/timed-task/timers/nightly", json={"schedule": "bad"}), 400)
    assert [t["name"] for t in http.get("/tasks/timed-task/timers").json()] == ["nightly"]


def test_a_missed_timer_fires_once_on_recovery(
    task_server: ServerProcess, http: httpx.Client
) -> None:
    cmd_task(http, "missed-timer", timers=[{"name": "every5", "schedule": "*/5 * * * *"}])
    cmd_task(
        http,
        "disabled-timer",
        status="Disabled",
        timers=[{"name": "every5", "schedule": "*/5 * * * *"}],
    )
    # No worker runs for three days: about 860 slots of each timer pass.
    task_server.stop()
    three_days_ago = time.time() - 3 * 86400
    sql(
        task_server,
        "UPDATE task_timers SET next_due = :t, created_at = :t",
        t=three_days_ago,
    )
    sql(task_server, "UPDATE tasks SET created_at = :t", t=three_days_ago)
    task_server.start()

    wait_until(lambda: len(runs_of(http, "missed-timer")) > 0, timeout=30, what="timer run")
    time.sleep(2.0)  # several more polls of the worker loop
    runs = runs_of(http, "missed-timer")
    assert len(runs) == 1, runs
    (run,) = runs
    assert (run["trigger"], run["trigger_detail"], run["task_name"]) == (
        "timer",
        "every5",
        "missed-timer",
    )
    assert stored_request(task_server, run["run_id"])["cmd"] == "busybox echo hello"
    (timer,) = http.get("/tasks/missed-timer/timers").json()
    assert timer["last_run_id"] == run["run_id"]
    assert _parse(timer["last_fired_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    upcoming = _parse(timer["next_firing_times"][0])
    assert datetime.now(UTC) < upcoming <= datetime.now(UTC) + timedelta(minutes=5)
    # The disabled task's timer did not fire.
    assert runs_of(http, "disabled-timer") == []
    assert http.get("/tasks/disabled-timer/timers").json()[0]["last_fired_at"] is None

    # Enabled again, its missed slots do not fire either: it counts from now.
    http.patch("/tasks/disabled-timer", json={"status": "Enabled"})
    time.sleep(1.5)
    assert runs_of(http, "disabled-timer") == []


def test_a_due_timer_fires_once_among_many_processes(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(
        workers=3, env={"DOCKYARD_TASKS_ENABLED": "false", "DOCKYARD_TASK_POLL_SECONDS": "0.2"}
    )
    with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as http:
        for n in range(3):
            cmd_task(http, f"busy-timer-{n}", timers=[{"name": "hourly", "schedule": "0 * * * *"}])
        sql(server, "UPDATE task_timers SET next_due = :t", t=time.time() - 7200)
        wait_until(
            lambda: all(runs_of(http, f"busy-timer-{n}") for n in range(3)),
            timeout=30,
            what="a run of every timer",
        )
        time.sleep(2.0)
        for n in range(3):
            (run,) = runs_of(http, f"busy-timer-{n}")
            assert (run["trigger"], run["trigger_detail"]) == ("timer", "hourly")
    rows = sql(server, "SELECT count(*) FROM task_runs WHERE task_name LIKE 'busy-timer-%'")
    assert rows[0][0] == 3


# --- runs ---------------------------------------------------------------------------------------


def test_manual_run_records_task_and_trigger(
    task_server: ServerProcess, http: httpx.Client
) -> None:
    cmd_task(http, "manual-run")
    resp = http.post("/tasks/manual-run/runs", json={"values": {"greeting": "bonjour"}})
    assert resp.status_code == 201, describe(resp)
    run = resp.json()
    assert (run["trigger"], run["task_name"], run["kind"]) == ("manual", "manual-run", "cmd")
    assert run["status"] == "Queued"
    assert http.get(f"/runs/{run['run_id']}").json()["task_name"] == "manual-run"
    assert stored_request(task_server, run["run_id"])["cmd"] == "busybox echo bonjour"
    # Without overrides, the task's own values.
    again = http.post("/tasks/manual-run/runs", json={}).json()
    assert stored_request(task_server, again["run_id"])["cmd"] == "busybox echo hello"
    assert [r["run_id"] for r in runs_of(http, "manual-run")] == [again["run_id"], run["run_id"]]

    assert_error(http.post("/tasks/no-such-task/runs", json={}), 404, "NOT_FOUND")
    assert_error(http.post("/tasks/manual-run/runs", json={"timeout": 5}), 400)


def test_build_task_run_passes_values_as_build_args(
    task_server: ServerProcess, http: httpx.Client
) -> None:
    create_task(
        http,
        name="build-task",
        context="https://example.com/app.tar.gz",
        file="docker/Dockerfile",
        images=["app:{{.Values.channel}}-{{.Run.ID}}"],
        values={"channel": "stable"},
        secret_values={"npm_token": SECRET},
    )
    run = http.post("/tasks/build-task/runs", json={"values": {"channel": "beta"}}).json()
    assert run["kind"] == "build"
    assert run["images"] == [f"app:beta-{run['run_id']}"]
    request = stored_request(task_server, run["run_id"])
    assert request["context_url"] == "https://example.com/app.tar.gz"
    assert request["dockerfile"] == "docker/Dockerfile"
    assert request["build_args"] == {"channel": "beta", "npm_token": SECRET}


def test_multi_step_tasks_run_on_docker_with_their_values(
    task_server: ServerProcess, http: httpx.Client
) -> None:
    refused = http.post(
        "/tasks",
        json={
            "name": "yaml-on-buildah",
            "context": "https://example.com/repo.git",
            "file": "acr-task.yaml",
            "engine": "buildah",
        },
    )
    assert "runs on the docker engine" in assert_error(refused, 400)[0]["message"]
    task = create_task(
        http,
        name="yaml-task",
        context="https://example.com/repo.git#main",
        file="acr-task.yaml",
        values={"target": "saved", "keep": "k"},
        secret_values={"pw": "stored-secret"},
    )
    assert task["engine"] == "docker"
    resp = http.post(
        "/tasks/yaml-task/runs",
        json={"values": {"target": "override"}, "secret_values": {"pw": "run-secret"}},
    )
    assert resp.status_code == 201, describe(resp)
    run = resp.json()
    assert (run["kind"], run["engine"], run["task_name"]) == ("task", "docker", "yaml-task")
    request = stored_request(task_server, run["run_id"])
    assert request["task_file"] == "acr-task.yaml"
    assert request["values"] == {"target": "override", "keep": "k"}
    # The task's stored secrets are read by the worker, never copied into the run.
    assert "stored-secret" not in json.dumps(request)
    assert "run-secret" not in resp.text


# --- credentials --------------------------------------------------------------------------------


def test_credentials(http: httpx.Client) -> None:
    cmd_task(http, "cred-task")
    body = {"login_server": "Registry.Example.com", "username": "bob", "password": PASSWORD}
    resp = http.post("/tasks/cred-task/credentials", json=body)
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["login_server"] == "registry.example.com"
    assert_error(http.post("/tasks/cred-task/credentials", json=body), 409, "CONFLICT")
    listed = http.get("/tasks/cred-task/credentials").json()
    assert [(c["login_server"], c["username"]) for c in listed] == [("registry.example.com", "bob")]
    assert_error(
        http.post("/tasks/cred-task/credentials", json={**body, "login_server": "a/b"}), 400
    )
    resp = http.delete("/tasks/cred-task/credentials/registry.example.com")
    assert resp.status_code == 204
    assert http.get("/tasks/cred-task/credentials").json() == []
    assert_error(http.delete("/tasks/cred-task/credentials/registry.example.com"), 404)
    assert_error(http.get("/tasks/nope-task/credentials"), 404, "NOT_FOUND")


# --- the CLI ------------------------------------------------------------------------------------


# The CLI is an HTTP client: the saved-task API it calls is checked on PostgreSQL above.
@pytest.mark.db_independent
def test_cli_task_commands(task_server: ServerProcess) -> None:
    s = task_server
    created = cli(
        s,
        "task", "create", "--name", "cli-task", "--context", "/",
        "--cmd", "busybox echo {{.Values.who}}", "--set", "who=world",
        "--secret-set", f"pw={SECRET}", "--timeout", "900",
        "--schedule", "0 4 * * *", "--git-access-token", TOKEN,
    )  # fmt: skip
    assert created["values"] == {"who": "world"}
    assert created["secret_value_names"] == ["pw"]
    assert [(t["name"], t["schedule"]) for t in created["timers"]] == [("t1", "0 4 * * *")]
    shown = s.dockyard("task", "show", "-n", "cli-task", "-r", s.url)
    assert shown.returncode == 0, shown.stderr
    assert "cli-task" in shown.stdout
    assert "0 4 * * *" in shown.stdout
    assert SECRET not in shown.stdout
    assert TOKEN not in shown.stdout
    assert "cli-task" in [t["name"] for t in cli(s, "task", "list")]

    updated = cli(
        s, "task", "update", "-n", "cli-task", "--set", "who=dockyard", "--status", "Disabled"
    )
    assert (updated["values"], updated["status"]) == ({"who": "dockyard"}, "Disabled")

    timer = cli(
        s,
        "task",
        "timer",
        "add",
        "-n",
        "cli-task",
        "--timer-name",
        "t2",
        "--schedule",
        "*/10 * * * *",
    )
    assert timer["schedule"] == "*/10 * * * *"
    assert len(timer["next_firing_times"]) == 3
    timer = cli(s, "task", "timer", "update", "-n", "cli-task", "--timer-name", "t2", "--disabled")
    assert timer["enabled"] is False
    assert [t["name"] for t in cli(s, "task", "timer", "list", "-n", "cli-task")] == ["t1", "t2"]
    assert (
        s.dockyard(
            "task", "timer", "remove", "-n", "cli-task", "--timer-name", "t2", "-r", s.url
        ).returncode
        == 0
    )
    assert [t["name"] for t in cli(s, "task", "timer", "list", "-n", "cli-task")] == ["t1"]
    assert "5-field cron" in cli_fails(
        s, "task", "timer", "add", "-n", "cli-task", "--schedule", "x"
    )

    added = cli(
        s, "task", "credential", "add", "-n", "cli-task", "--login-server", "other.io",
        "--cred-username", "u", "--cred-password", PASSWORD,
    )  # fmt: skip
    assert added["login_server"] == "other.io"
    listed = s.dockyard("task", "credential", "list", "-n", "cli-task", "-r", s.url)
    assert "other.io" in listed.stdout
    assert PASSWORD not in listed.stdout
    assert (
        s.dockyard(
            "task",
            "credential",
            "remove",
            "-n",
            "cli-task",
            "--login-server",
            "other.io",
            "-r",
            s.url,
        ).returncode
        == 0
    )
    assert cli(s, "task", "credential", "list", "-n", "cli-task") == []

    run = cli(s, "task", "run", "-n", "cli-task", "--set", "who=cli")
    assert (run["trigger"], run["task_name"]) == ("manual", "cli-task")
    assert stored_request(s, run["run_id"])["cmd"] == "busybox echo cli"
    shown = s.dockyard("task", "show-run", "--run-id", run["run_id"], "-r", s.url)
    assert shown.returncode == 0, shown.stderr
    assert "cli-task" in shown.stdout

    assert "task name" in cli_fails(s, "task", "create", "-n", "bad", "--cmd", "busybox true")
    gone = s.dockyard("task", "delete", "-n", "cli-task", "--yes", "-r", s.url)
    assert gone.returncode == 0, gone.stderr
    assert "not found" in cli_fails(s, "task", "show", "-n", "cli-task")


# --- rights -------------------------------------------------------------------------------------


def test_tasks_need_rights(tmp_path: Path) -> None:
    srv: AuthServer = start_auth_server(tmp_path / "auth", DOCKYARD_TASKS_ENABLED="false")
    try:
        reader, reader_password = srv.user("Reader")
        with httpx.Client(base_url=srv.url + "/api/v1", timeout=60) as anon:
            assert_error(anon.get("/tasks"), 401, "UNAUTHORIZED")
        with httpx.Client(base_url=srv.url + "/api/v1", timeout=60, headers=srv.owner()) as owner:
            task = cmd_task(owner, "owned-task", timers=[{"schedule": "0 1 * * *"}])
            assert task["owner"] == "user:owner"
            run = owner.post("/tasks/owned-task/runs", json={}).json()
        with httpx.Client(
            base_url=srv.url + "/api/v1", timeout=60, auth=(reader, reader_password)
        ) as as_reader:
            assert as_reader.get("/tasks/owned-task").json()["name"] == "owned-task"
            assert_error(as_reader.post("/tasks", json={"name": "x-task-1"}), 403, "DENIED")
            assert_error(as_reader.post("/tasks/owned-task/runs", json={}), 403, "DENIED")
            assert_error(as_reader.delete("/tasks/owned-task/timers/t1"), 403, "DENIED")
            assert_error(as_reader.delete("/tasks/owned-task"), 403, "DENIED")
            assert [r["run_id"] for r in runs_of(as_reader, "owned-task")] == [run["run_id"]]
        events = [e for e in srv.audit() if e.get("event") == "task.run"]
        assert events[-1]["actor"] == "user:owner", events
        assert events[-1]["run_id"] == run["run_id"]
    finally:
        srv.close()
