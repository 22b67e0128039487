"""Every field of a task file is read into the model, with ACR's defaults where absent."""

from __future__ import annotations

from dockyard.tasks.taskfile import (
    Network,
    Secret,
    VolumeMount,
    parse_task_file,
)
from dockyard.tasks.taskfile.model import DEFAULT_STEP_TIMEOUT, DEFAULT_WORKING_DIRECTORY

FULL = """\
version: v1.1.0
stepTimeout: 900
workingDirectory: /src
env:
  - GLOBAL=1
secrets:
  - id: token
    keyvault: https://vault.example/secrets/token
    clientID: 1234
networks:
  - name: net1
    driver: bridge
    ipv6: true
    skipCreation: false
    isDefault: true
volumes:
  - name: conf
    secret:
      app.conf: key=value
steps:
  - id: image
    build: -t app:1 -f Dockerfile .
    cache: disabled
    pull: true
    isolation: default
    when: ["-"]
  - id: run
    cmd: app:1 serve --port 8080
    detach: true
    env: [A=1, B=two words]
    entryPoint: /bin/sh
    ports: ["8080:80", 9000]
    expose: ["8080"]
    timeout: 120
    ignoreErrors: true
    retries: 3
    retryDelay: 5
    repeat: 2
    startDelay: 1m30s
    keep: true
    workingDirectory: /app
    user: "1000:1000"
    network: net1
    privileged: true
    secret: token
    disableWorkingDirectoryOverride: true
    volumeMounts:
      - name: conf
        mountPath: /etc/app
    when: [image]
  - push:
      - app:1
      - app:latest
    timeout: 2m
"""


def test_top_level_fields() -> None:
    task = parse_task_file(FULL)
    assert task.version == "v1.1.0"
    assert task.step_timeout == 900
    assert task.working_directory == "/src"
    assert task.env == ("GLOBAL=1",)
    assert task.secrets == (Secret("token", "https://vault.example/secrets/token", "1234"),)
    assert task.networks == (Network("net1", "bridge", True, False, True),)
    assert task.volumes[0].name == "conf"
    assert task.volumes[0].secret == {"app.conf": "key=value"}


def test_build_step_fields() -> None:
    image = parse_task_file(FULL).step("image")
    assert image.kind == "build"
    assert image.build == "-t app:1 -f Dockerfile ."
    assert image.cache is False
    assert image.pull is True
    assert image.isolation == "default"
    assert image.when == ("-",)
    assert image.timeout == 900  # the file's stepTimeout
    assert image.line == 21


def test_cmd_step_fields() -> None:
    run = parse_task_file(FULL).step("run")
    assert run.kind == "cmd"
    assert run.cmd == "app:1 serve --port 8080"
    assert run.detach is True
    assert run.env == ("A=1", "B=two words")
    assert run.entry_point == "/bin/sh"
    assert run.ports == ("8080:80", "9000")
    assert run.expose == ("8080",)
    assert run.timeout == 120
    assert run.ignore_errors is True
    assert run.retries == 3
    assert run.retry_delay == 5
    assert run.repeat == 2
    assert run.start_delay == 90
    assert run.keep is True
    assert run.working_directory == "/app"
    assert run.user == "1000:1000"
    assert run.network == "net1"
    assert run.privileged is True
    assert run.secret == "token"
    assert run.disable_working_directory_override is True
    assert run.volume_mounts == (VolumeMount("conf", "/etc/app"),)
    assert run.when == ("image",)


def test_push_step_and_default_id() -> None:
    push = parse_task_file(FULL).steps[2]
    assert push.kind == "push"
    assert push.id == "acb_step_2"
    assert push.push == ("app:1", "app:latest")
    assert push.timeout == 120
    assert push.when is None


def test_defaults() -> None:
    task = parse_task_file("steps:\n  - cmd: busybox true\n")
    assert task.version == "v1.1.0"
    assert task.step_timeout == DEFAULT_STEP_TIMEOUT == 600
    assert task.working_directory == DEFAULT_WORKING_DIRECTORY
    assert (task.env, task.secrets, task.networks, task.volumes) == ((), (), (), ())
    step = task.steps[0]
    assert step.id == "acb_step_0"
    assert step.timeout == 600
    assert (step.detach, step.ignore_errors, step.keep, step.privileged, step.pull) == (
        False,
        False,
        False,
        False,
        False,
    )
    assert (step.retries, step.retry_delay, step.repeat, step.start_delay) == (0, 0, 0, 0)
    assert step.cache is True
    assert step.disable_working_directory_override is False
    assert step.entry_point is step.user is step.network is step.secret is None
    assert step.working_directory is None
    assert step.when is None


def test_scalars_are_kept_as_written() -> None:
    # YAML 1.1 would read 1:30 as a number (90) and 1.10 as 1.1; strings stay as the text.
    task = parse_task_file("steps:\n  - cmd: img:1.10 run\n    ports: [1:30]\n    user: 0\n")
    assert task.steps[0].cmd == "img:1.10 run"
    assert task.steps[0].ports == ("1:30",)
    assert task.steps[0].user == "0"


def test_durations() -> None:
    text = "stepTimeout: 1h\nsteps:\n  - cmd: a\n    timeout: 45s\n    retryDelay: 2m\n"
    task = parse_task_file(text)
    assert task.step_timeout == 3600
    assert task.steps[0].timeout == 45
    assert task.steps[0].retry_delay == 120


def test_version_1_0_0() -> None:
    assert parse_task_file("version: v1.0.0\nsteps:\n  - cmd: a\n").version == "v1.0.0"
