"""What the remote commands share besides their login options (cli/remote.py): a few more
options, and the ways answers are printed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dockyard.cli.output import out
from dockyard.cli.remote import Login, Output

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dockyard.cli.api_client import Listing

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]
NameOption = Annotated[str, typer.Option("--name", "-n", help="Name", show_default=False)]


# --- output ----------------------------------------------------------------------------------


def when(value: Any) -> str:
    """An ISO 8601 time or a Unix time, shown in UTC to the second."""
    if value is None or value == "":
        return "never"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        moment = (
            datetime.fromtimestamp(float(value), UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value))
        )
    except (TypeError, ValueError):
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def jsonable(answer: Any) -> Any:
    """An answer as JSON values: wire models by their JSON names, as the server sent them."""
    if isinstance(answer, list):
        return [jsonable(item) for item in answer]
    if answer is None or isinstance(answer, dict | str | int | float):
        return answer
    from pydantic import BaseModel

    if isinstance(answer, BaseModel):
        return answer.model_dump(mode="json", by_alias=True)
    raise TypeError(f"{type(answer).__name__} is not an answer")


def print_json(data: Any) -> None:
    """Plain JSON (never re-wrapped to the terminal's width), for scripts."""
    typer.echo(json.dumps(jsonable(data), indent=2))


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


@dataclass(frozen=True, slots=True)
class ModelTable:
    """How wire models show as a table: one column per field of the model, in the model's
    order (`first` ones first), headed by the field's JSON name (what `-o json` calls it),
    but the `hidden` ones; `render` says how a field's value reads (by default as `cell`
    shows it)."""

    title: str
    render: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    first: tuple[str, ...] = ()

    def print(self, items: Listing[Any]) -> None:
        self.print_models(items.model, items)

    def print_one(self, item: BaseModel) -> None:
        self.print_models(type(item), [item])

    def print_models(self, model: type[BaseModel], items: Iterable[BaseModel]) -> None:
        fields = model.model_fields
        unknown = (set(self.render) | self.hidden | set(self.first)) - set(fields)
        if unknown:
            raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
        ordered = [*self.first, *(name for name in fields if name not in self.first)]
        shown = [name for name in ordered if name not in self.hidden]
        headings = [fields[name].alias or name for name in shown]
        renders: list[Callable[[Any], Any]] = [self.render.get(name, cell) for name in shown]
        rows = [
            [render(getattr(item, name)) for name, render in zip(shown, renders, strict=True)]
            for item in items
        ]
        print_table(self.title, headings, rows)


@dataclass(frozen=True, slots=True)
class Columns:
    """A table of wire models: a column per field of `shown`, in that order, headed by the
    field's JSON name (what `-o json` calls it); `render` says how a field's value reads (by
    default as `cell` shows it). A name that is not a field of the model is an error."""

    title: str
    shown: tuple[str, ...]
    render: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    def print(self, items: Listing[Any]) -> None:
        self.print_models(items.model, items)

    def print_one(self, item: BaseModel) -> None:
        self.print_models(type(item), [item])

    def print_models(self, model: type[BaseModel], items: Iterable[BaseModel]) -> None:
        hidden = frozenset(model.model_fields) - set(self.shown)
        ModelTable(self.title, self.render, hidden, self.shown).print_models(model, items)


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
