"""The CLI's argument conventions in-process: hidden aliases, positional-or-option values,
image names checked before a build, and when a run's outcome was already said by its log."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dockyard.cli.client import CliError
from dockyard.cli.content.acr import ImageReference, is_image, one_target
from dockyard.cli.conventions import POSITIONAL, one_of, rewrite_aliases
from dockyard.cli.main import app
from dockyard.cli.tasks.build import image_name_problem
from dockyard.cli.tasks.follow import log_told_outcome

ALIASES = {"--principal": "--assignee", "--name": POSITIONAL, "-n": POSITIONAL}
REGISTRY = "https://registry.example.com"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--principal", "ann", "--role", "Reader"], ["--assignee", "ann", "--role", "Reader"]),
        (["--principal=ann"], ["--assignee=ann"]),
        (["-n", "team/app:v1", "-o", "json"], ["team/app:v1", "-o", "json"]),
        (["--name=team/app"], ["team/app"]),
        # Other options, values that look like aliases, and everything after `--` stay.
        (
            ["--assignee", "ann", "--role", "--principal"],
            ["--assignee", "ann", "--role", "--assignee"],
        ),
        (["--", "--principal", "x"], ["--", "--principal", "x"]),
        (["--principals", "x"], ["--principals", "x"]),
    ],
)
def test_rewrite_aliases(args: list[str], expected: list[str]) -> None:
    assert rewrite_aliases(args, ALIASES) == expected


def test_an_alias_for_the_positional_needs_its_value() -> None:
    with pytest.raises(CliError, match="-n needs a value"):
        rewrite_aliases(["-n"], ALIASES)


def test_one_of() -> None:
    assert one_of("repository", ("REPOSITORY", "a"), ("--repository", None)) == "a"
    assert one_of("repository", ("REPOSITORY", "a"), ("--repository", "a")) == "a"
    with pytest.raises(CliError, match="which repository"):
        one_of("repository", ("REPOSITORY", None), ("--repository", None))
    with pytest.raises(CliError, match="given twice"):
        one_of("repository", ("REPOSITORY", "a"), ("--repository", "b"))


def test_a_positional_target_is_an_image_when_it_has_a_tag_or_digest() -> None:
    assert not is_image("team/app")
    assert is_image("team/app:v1")
    assert is_image("team/app@sha256:" + "a" * 64)
    assert not is_image("localhost:5000/team/app")
    assert one_target(REGISTRY, "team/app", None, None) == "team/app"
    assert one_target(REGISTRY, "registry.example.com/team/app:v1", None, None) == (
        ImageReference("team/app", tag="v1")
    )
    assert one_target(REGISTRY, None, None, "team/app:v1") == ImageReference("team/app", tag="v1")
    with pytest.raises(CliError, match="give one repository or image"):
        one_target(REGISTRY, "team/app", "team/app", None)


@pytest.mark.parametrize(
    ("image", "wrong"),
    [
        ("team/app:v1", None),
        ("app", None),
        ("app:{{.Run.ID}}", None),
        ("team/app:{{.Run.ID}}-amd64", None),
        ("Bad Name", "repository 'Bad Name'"),
        ("Team/app:v1", "repository 'Team/app'"),
        ("app:bad tag", "tag 'bad tag'"),
        ("app:" + "t" * 129, "tag"),
    ],
)
def test_image_names_are_checked_before_a_build(image: str, wrong: str | None) -> None:
    problem = image_name_problem(image)
    if wrong is None:
        assert problem is None
    else:
        assert problem is not None
        assert wrong in problem


def test_the_outcome_said_by_the_log_is_not_said_again() -> None:
    succeeded = {"run_id": "ca7", "status": "Succeeded"}
    failed = {"run_id": "ca7", "status": "Failed"}
    assert log_told_outcome(succeeded, b"step\nRun ca7 succeeded after 3s\n")
    assert log_told_outcome(failed, b"step\nRun ca7 ended Failed after 3s: exit 1\n")
    assert not log_told_outcome(failed, b"step\nRun ca7 succeeded after 3s\n")
    assert not log_told_outcome(succeeded, b"")
    assert not log_told_outcome(succeeded, b"Run ca7 succeeded after 3s\nmore\n")


def test_hidden_aliases_stay_out_of_help() -> None:
    shown = CliRunner().invoke(app, ["role", "assign", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "--assignee" in shown.output
    assert "--principal" not in shown.output
    shown = CliRunner().invoke(app, ["manifest", "list-deleted", "--help"], env={"COLUMNS": "200"})
    assert "REPOSITORY" in shown.output
    assert "--name" not in shown.output
