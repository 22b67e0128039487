"""How the content commands show answers: wire models as tables of chosen fields (by their
Python names, headed by their JSON names, what `-o json` calls them), and `/acr/v1` answers as
the JSON the server sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard.cli.access.common import cell, print_json, print_table
from dockyard.cli.remote import Output

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class ModelView:
    """A table of models: a title, and the fields it shows, each a field's Python name or
    (name, how its value reads); by default a value reads as `cell` shows it."""

    title: str
    columns: Sequence[str | tuple[str, Callable[[Any], Any]]]

    def print(self, model: type[BaseModel], items: Iterable[BaseModel]) -> None:
        fields = model.model_fields
        shown = [(column, cell) if isinstance(column, str) else column for column in self.columns]
        unknown = [name for name, _ in shown if name not in fields]
        if unknown:
            raise TypeError(f"{model.__name__} has no field {', '.join(unknown)}")
        headings = [fields[name].alias or name for name, _ in shown]
        rows = [[render(getattr(item, name)) for name, render in shown] for item in items]
        print_table(self.title, headings, rows)


def shaped(answer: Any) -> Any:
    """An answer of `/acr/v1` models (or lists of them, or plain values) as the JSON the server
    sent: ACR's names, and only the fields it sent."""
    from pydantic import BaseModel

    from dockyard.cli.content_api import shape_json

    if isinstance(answer, list):
        return [shaped(item) for item in answer]
    if isinstance(answer, BaseModel):
        return shape_json(answer)
    return answer


def print_shaped(answer: Any, output: Output, show: Callable[[Any], None]) -> None:
    """An `/acr/v1` answer as the JSON the server sent with `-o json`, else as `show` prints
    it for people."""
    if output == Output.json:
        print_json(shaped(answer))
    else:
        show(answer)
