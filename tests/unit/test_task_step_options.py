"""How a task file's words reach docker: image references parsed, each option's value in its
own word, `--` before the image or context, values of secrets off the command line, and the
repositories the run's credential opens (issue #11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.access.rights import Grant, Rights
from dockyard.access.run_identity import intersect
from dockyard.spec.reference import ImageReference, InvalidReference, parse_reference
from dockyard.tasks.credentials import RepositoryAccess
from dockyard.tasks.steps.build_command import BuildStepInvalid, parse_build
from dockyard.tasks.steps.docker import Container, DockerSteps
from dockyard.tasks.steps.plan import StepPolicy, prepare
from dockyard.tasks.taskfile.load import load_task_file
from dockyard.tasks.taskfile.problems import TaskFileInvalid
from dockyard.tasks.taskfile.templates import RunContext

HOST = "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpine", ImageReference(None, "alpine")),
        ("base/busybox:1", ImageReference(None, "base/busybox", "1")),
        ("127.0.0.1:5000/a/b:v1", ImageReference("127.0.0.1:5000", "a/b", "v1")),
        ("localhost/a", ImageReference("localhost", "a")),
        (
            "reg.example/a@sha256:" + "0" * 64,
            ImageReference("reg.example", "a", None, "sha256:" + "0" * 64),
        ),
        ("[::1]:5000/x:y", ImageReference("[::1]:5000", "x", "y")),
    ],
)
def test_references_parse(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected
    assert str(parse_reference(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "-v",
        "--privileged",
        "--pid=host",
        "",
        "a b",
        "UPPER",
        "a:b:c",
        "reg.example/-x",
        "a@sha256:1",
    ],
)
def test_options_and_junk_are_not_references(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference(text)


def test_a_build_argv_has_no_user_word_in_option_position(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    command = parse_build(
        "-t app:1 --build-arg TOKEN=s3cret --label=x --network none --platform linux/amd64 .",
        tmp_path,
    )
    argv = command.argv()
    assert argv[-2:] == ["--", str(tmp_path.resolve())]
    assert all(word.startswith("--") for word in argv[:-2])
    assert "--tag=app:1" in argv
    assert "--build-arg=TOKEN" in argv
    assert not any("s3cret" in word for word in argv)
    assert command.environment() == {"TOKEN": "s3cret"}


@pytest.mark.parametrize(
    "text",
    [
        "-t -v .",
        "-t --privileged .",
        "--cache-from -v .",
        "--network host .",
        "--network bridge .",
        "--build-arg DOCKER_HOST=tcp://x .",
        "--build-arg PATH=/x .",
        "--target=-x .",
        "-v /:/host .",
    ],
)
def test_build_options_that_reach_out_are_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(BuildStepInvalid):
        parse_build(text, tmp_path)


def test_the_host_network_of_a_build_follows_the_policy(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    command = parse_build("--network host .", tmp_path, allow_host_network=True)
    assert "--network=host" in command.argv()


def test_a_container_argv_ends_with_the_image_and_its_command(tmp_path: Path) -> None:
    steps = DockerSteps("ca1-x", tmp_path, '{"auths": {}}')
    container = Container(
        name="c",
        image="base/busybox:1",
        args=("-v", "/:/host"),
        network="dockyard-ca1-x",
        alias="step",
        workspace=tmp_path / "ws",
        working_directory="-w",
        env=(("TOKEN", "s3cret"), ("OTHER", "x=y")),
        user="--privileged",
    )
    argv = steps._run_args(container, detach=False)
    split = argv.index("--")
    assert argv[split + 1 :] == ["base/busybox:1", "-v", "/:/host"]
    assert all(word.startswith("--") for word in argv[1:split])
    assert "--user=--privileged" in argv
    assert "--workdir=-w" in argv
    assert not any("s3cret" in word for word in argv)
    [env_file] = [w.removeprefix("--env-file=") for w in argv if w.startswith("--env-file=")]
    assert Path(env_file).read_text() == "TOKEN=s3cret\nOTHER=x=y\n"
    assert Path(env_file).stat().st_mode & 0o077 == 0


def _prepared(tmp_path: Path, text: str, policy: StepPolicy | None = None):  # type: ignore[no-untyped-def]
    context = RunContext(id="ca1", registry=HOST)
    task = load_task_file(text, context).task
    return prepare(task, "ca1-x", tmp_path, policy or StepPolicy(), HOST)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps:\n  - cmd: a:1 true\n    env: ['BARE']\n", "NAME=value"),
        ('steps:\n  - cmd: a:1 true\n    env: ["A=x\\ny"]\n', "line break"),
        ("steps:\n  - cmd: a:1 true\n    network: host\n", "DOCKYARD_TASK_ALLOW_HOST_NETWORK"),
        ("steps:\n  - cmd: a:1 true\n    privileged: true\n", "PRIVILEGED"),
        ("steps:\n  - push: ['-v']\n", "not an image reference"),
        ("steps:\n  - cmd: a:1 true\n    isolation: hyperv\n", "isolation"),
    ],
)
def test_step_options_follow_the_policy(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TaskFileInvalid) as caught:
        _prepared(tmp_path, text)
    assert message in caught.value.message
    assert "line " in caught.value.message


def test_host_network_and_privileged_when_the_worker_allows_them(tmp_path: Path) -> None:
    text = "steps:\n  - cmd: a:1 true\n    network: host\n    privileged: true\n"
    prepared = _prepared(tmp_path, text, StepPolicy(allow_privileged=True, allow_host_network=True))
    assert prepared.networks["acb_step_0"] == "host"


def test_the_run_credential_opens_what_the_task_file_names(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM 127.0.0.1:5000/base/img:1\nFROM other.example/x:1\n")
    text = f"""\
steps:
  - build: -t {HOST}/app/web:1 .
  - push: ["{HOST}/app/web:1"]
  - cmd: tools/helm:1 push chart.tgz oci://{HOST}/charts
  - cmd: other.example/not/here:1
"""
    prepared = _prepared(tmp_path, text)
    assert prepared.repositories == (
        RepositoryAccess("app/web", frozenset({"pull", "push"})),
        RepositoryAccess("base/img", frozenset({"pull"})),
        RepositoryAccess("charts", frozenset({"pull", "push"})),
        RepositoryAccess("charts/*", frozenset({"pull", "push"})),
        RepositoryAccess("tools/helm", frozenset({"pull"})),
    )


def test_the_run_grant_never_exceeds_the_requesters_rights() -> None:
    held = Rights(
        (
            Grant("app/*", frozenset({"pull", "push", "delete", "manage_write"})),
            Grant("base/img", frozenset({"pull"})),
        )
    )
    wanted = [
        Grant("app/web", frozenset({"pull", "push"})),
        Grant("base/img", frozenset({"pull", "push"})),
        Grant("charts/*", frozenset({"pull", "push"})),
        Grant("*", frozenset({"pull", "push", "delete"})),
    ]
    assert intersect(wanted, held) == (
        Grant("app/*", frozenset({"pull", "push"})),
        Grant("app/web", frozenset({"pull", "push"})),
        Grant("base/img", frozenset({"pull"})),
    )
