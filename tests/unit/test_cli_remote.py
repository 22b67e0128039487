"""The login and output options, declared once (cli/remote.py), in-process: what a command
receives, where the options appear, and that every remote command has them."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from dockyard.cli.client import CliError
from dockyard.cli.main import app
from dockyard.cli.remote import Login, Output, remote

LOGIN_FLAGS = [("--registry", "-r"), ("--username", "-u"), ("--password", "-p")]


def probe_app() -> typer.Typer:
    probe = typer.Typer()

    @probe.command("show")
    @remote
    def show(
        name: Annotated[str, typer.Option("--name")],
        *,
        login: Login,
        output: Output,
    ) -> None:
        if name == "bad":
            raise CliError("no such thing", "try another name")
        typer.echo(f"{name} {login.registry} {login.username} {login.password} {output.value}")

    @probe.command("other")
    @remote
    def other(*, login: Login) -> None:
        typer.echo(repr(login))

    return probe


def test_a_command_receives_the_login_and_output_it_was_given() -> None:
    runner = CliRunner()
    given = runner.invoke(
        probe_app(), ["show", "--name", "x", "-r", "reg", "-u", "ann", "-p", "pw", "-o", "json"]
    )
    assert given.exit_code == 0, given.output
    assert given.output == "x reg ann pw json\n"
    defaults = runner.invoke(probe_app(), ["show", "--name", "x"])
    assert defaults.output == "x None None None table\n"


def test_the_options_follow_the_commands_own_in_order() -> None:
    command = get_command(probe_app())
    show = command.commands["show"]  # type: ignore[attr-defined]
    assert [tuple(p.opts) for p in show.params] == [
        ("--name",),
        *LOGIN_FLAGS,
        ("--output", "-o"),
    ]
    other = command.commands["other"]  # type: ignore[attr-defined]
    assert [tuple(p.opts) for p in other.params] == LOGIN_FLAGS


def test_errors_are_one_line_and_a_hint() -> None:
    failed = CliRunner().invoke(probe_app(), ["show", "--name", "bad"])
    assert failed.exit_code == 1
    assert "error: no such thing" in failed.output
    assert "hint: try another name" in failed.output


def test_a_command_without_login_is_refused_when_declared() -> None:
    def local() -> None:
        """Needs no registry."""

    with pytest.raises(TypeError, match="login"):
        remote(local)


def walk(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += walk(sub, (*path, name))
    return found


def test_every_remote_command_takes_the_login_options_once() -> None:
    """Every command with -r takes -u and -p next to it, each once (`import` has its own
    -u/-p, for the source registry, and signs in with --registry-username; `logout` needs
    no credentials)."""
    with_registry = 0
    for path, command in walk(get_command(app)):
        opts = [tuple(p.opts) for p in getattr(command, "params", [])]
        if ("--registry", "-r") not in opts:
            continue
        with_registry += 1
        start = opts.index(("--registry", "-r"))
        if path == ("import",):
            assert ("--registry-username",) in opts
            continue
        if path == ("logout",):
            continue
        assert opts[start : start + 3] == LOGIN_FLAGS, path
        flat = [flag for names in opts for flag in names]
        assert len(flat) == len(set(flat)), path
    assert with_registry >= 75
