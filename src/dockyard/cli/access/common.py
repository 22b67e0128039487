"""What the access-control commands share: the options every command takes, error reporting,
the connection to the management API, and the ways answers are printed."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from dockyard.cli.client import CliError, ManagementClient, connect
from dockyard.cli.output import err, out

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
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]
NameOption = Annotated[str, typer.Option("--name", "-n", help="Name", show_default=False)]


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


@dataclass(frozen=True, slots=True)
class Login:
    """The registry and credentials from a command's -r/-u/-p options (unset: the stored login)."""

    registry: str | None
    username: str | None
    password: str | None

    def connect(self) -> AbstractContextManager[ManagementClient]:
        return connect(self.registry, self.username, self.password)


# --- output ----------------------------------------------------------------------------------


def when(value: Any) -> str:
    """An ISO 8601 time or a Unix time, shown in UTC to the second."""
    if value is None or value == "":
        return "never"
    try:
        moment = (
            datetime.fromtimestamp(float(value), UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value))
        )
    except (TypeError, ValueError):
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_json(data: Any) -> None:
    """Plain JSON (never re-wrapped to the terminal's width), for scripts."""
    typer.echo(json.dumps(data, indent=2))


def print_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    out.print(table)


def print_secret(label: str, value: str) -> None:
    """Secrets go out as plain lines, never wrapped or styled, so they copy cleanly."""
    typer.echo(f"{label}: {value}")


def print_answer(answer: Any, output: Output, show: Callable[[Any], None]) -> None:
    """An answer as JSON with `-o json`, else as `show` prints it for people."""
    if output == Output.json:
        print_json(answer)
    else:
        show(answer)


def cell(value: Any) -> str:
    """A JSON value as a table cell: lists one item a line, nothing as blank."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(cell(item) for item in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: the JSON field it shows (its heading, so that what a table shows is
    found under the same name in `-o json`), and how a value of that field reads."""

    field: str
    render: Callable[[Any], Any] = cell


@dataclass(frozen=True, slots=True)
class TableView:
    """How an answer shows as a table: a title, the columns (JSON fields of the items), and
    where the items are in the answer (by default the answer is the list of them)."""

    title: str
    columns: Sequence[Column | str]
    items: Callable[[Any], Iterable[dict[str, Any]]] = lambda answer: answer

    @property
    def fields(self) -> list[Column]:
        return [c if isinstance(c, Column) else Column(c) for c in self.columns]

    def rows(self, answer: Any) -> list[list[Any]]:
        return [
            [column.render(item.get(column.field)) for column in self.fields]
            for item in self.items(answer)
        ]

    def print(self, answer: Any) -> None:
        print_table(self.title, [c.field for c in self.fields], self.rows(answer))


def print_listing(
    login: Login,
    path: str,
    output: Output,
    view: TableView,
    params: dict[str, Any] | None = None,
) -> None:
    """GET `path` from the management API and print the answer as JSON or as `view`'s table."""
    with login.connect() as api:
        answer = api.get(path, params)
    print_answer(answer, output, view.print)


def confirm(question: str, yes: bool) -> None:
    if not yes:
        typer.confirm(question, abort=True)


def delete(login: Login, path: str, what: str, question: str, yes: bool) -> None:
    """Ask (unless --yes), DELETE `path`, and say that `what` is gone."""
    confirm(question, yes)
    with login.connect() as api:
        api.call("DELETE", path)
    typer.echo(f"{what} deleted")
