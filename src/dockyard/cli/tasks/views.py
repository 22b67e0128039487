"""How the task and run answers show as tables: some fields of their wire models, named."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.cli.access.common import ModelTable

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dockyard.cli.api_client import Listing


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
