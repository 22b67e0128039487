"""The options every remote command takes, declared once.

A command that talks to a registry declares a keyword-only `login: Login` parameter (and
`output: Output` when it prints an answer); `remote` turns them into the `-r/--registry`,
`-u/--username`, `-p/--password` (and `-o/--output`) options in `--help`, in that order and
in that place, builds the `Login` from them, and reports `CliError`s as one red line.

    @user_app.command("list")
    @remote
    def user_list(*, login: Login, output: Output) -> None: ...
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.markup import escape

from dockyard.cli.api_client import DockyardApi
from dockyard.cli.client import CliError, ManagementClient, connect
from dockyard.cli.output import err

P = ParamSpec("P")
T = TypeVar("T")


class Output(StrEnum):
    table = "table"
    json = "json"


RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        "-r",
        help="Registry URL [$DOCKYARD_REGISTRY, else the last `dockyard login`, else the "
        "local quick start, http://127.0.0.1:5000]",
        show_default=False,
    ),
]
UsernameOption = Annotated[
    str | None,
    typer.Option(
        "--username", "-u", help="Sign in as this user, token or admin instead of the stored login"
    ),
]
PasswordOption = Annotated[str | None, typer.Option("--password", "-p", help="Its password")]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json")]


@dataclass(frozen=True, slots=True)
class Login:
    """The registry and credentials from a command's -r/-u/-p options (unset: the stored login)."""

    registry: str | None
    username: str | None
    password: str | None

    def connect(self) -> AbstractContextManager[ManagementClient]:
        """The untyped HTTP client (for the /acr/v1 data plane and streams)."""
        return connect(self.registry, self.username, self.password)

    @contextmanager
    def api(self) -> Iterator[DockyardApi]:
        """The typed management API client."""
        with self.connect() as http:
            yield DockyardApi(http)


def reports_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Failures become one red line (and a hint) on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            err.print(f"[red]error:[/red] {escape(exc.message)}")
            if exc.hint:
                err.print(f"[dim]hint:[/dim] {escape(exc.hint)}")
            raise typer.Exit(1) from None

    return wrapper


_LOGIN_OPTIONS = (
    ("registry", RegistryOption),
    ("username", UsernameOption),
    ("password", PasswordOption),
)


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def remote(func: Callable[..., T]) -> Callable[..., T]:
    """`func` as a command whose `login: Login` parameter is the -r/-u/-p options and whose
    `output: Output` parameter is -o; errors reported as `reports_errors` does."""
    signature = inspect.signature(func, eval_str=True)
    if "login" not in signature.parameters:
        raise TypeError(f"{func.__qualname__} takes no `login: Login` parameter")
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name == "login":
            parameters += [_option(name, kind, None) for name, kind in _LOGIN_OPTIONS]
        elif parameter.name == "output":
            parameters.append(_option("output", OutputOption, Output.table))
        else:
            parameters.append(parameter)

    @functools.wraps(func)
    def command(**options: Any) -> T:
        options["login"] = Login(*(options.pop(name) for name, _ in _LOGIN_OPTIONS))
        return func(**options)

    shown = signature.replace(parameters=parameters)
    command.__signature__ = shown  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return reports_errors(command)
