"""Typed reading of composed YAML nodes; every misfit becomes a Problem at the node's place."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dockyard.tasks.taskfile.problems import Problem

T = TypeVar("T")
STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_constructor = SafeConstructor()


def compose(text: str) -> tuple[Node | None, list[Problem]]:
    """The document's node tree (None for an empty text), or the syntax error at its place."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        return None, [Problem(line, column, f"not valid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(0, 0, f"not valid YAML: {exc}")]


def kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "nothing"
    return f"'{node.value}'"


class Reader:
    """Reads values off nodes, noting a Problem (and answering None) where one does not fit."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, node: Node | None, message: str) -> None:
        if node is None:
            self.problems.append(Problem(0, 0, message))
            return
        mark = node.start_mark
        self.problems.append(Problem(mark.line + 1, mark.column + 1, message))

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]] | None:
        """Keys to (key node, value node); duplicate and non-string keys are problems."""
        if not isinstance(node, MappingNode):
            self.problem(node, f"{what} must be a mapping, not {kind_of(node)}")
            return None
        fields: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == NULL_TAG:
                self.problem(key, f"{what} has a key that is not a name")
                continue
            if key.value in fields:
                self.problem(key, f"{what} has '{key.value}' twice")
                continue
            fields[key.value] = (key, value)
        return fields

    def unknown_fields(
        self, fields: dict[str, tuple[Node, Node]], known: set[str], what: str
    ) -> None:
        for name, (key, _) in fields.items():
            if name not in known:
                self.problem(key, f"{what} has an unknown field '{name}'")

    def string(self, node: Node, what: str) -> str | None:
        # Any plain scalar is taken as written: `8080:80` or `1.10` stay the text they are.
        if not isinstance(node, ScalarNode) or node.tag == NULL_TAG:
            self.problem(node, f"{what} must be a string, not {kind_of(node)}")
            return None
        return str(node.value)

    def boolean(self, node: Node, what: str) -> bool | None:
        if not isinstance(node, ScalarNode) or node.tag != BOOL_TAG:
            self.problem(node, f"{what} must be true or false, not {kind_of(node)}")
            return None
        return bool(_constructor.construct_yaml_bool(node))

    def integer(self, node: Node, what: str, minimum: int = 0) -> int | None:
        if not isinstance(node, ScalarNode) or node.tag != INT_TAG:
            self.problem(node, f"{what} must be a whole number, not {kind_of(node)}")
            return None
        try:
            number = int(_constructor.construct_yaml_int(node))
        except (ConstructorError, ValueError):
            self.problem(node, f"{what} must be a whole number, not {kind_of(node)}")
            return None
        if number < minimum:
            self.problem(node, f"{what} must be at least {minimum}, not {number}")
            return None
        return number

    def seconds(
        self, node: Node, what: str, minimum: int = 0, maximum: int | None = None
    ) -> int | None:
        """Whole seconds, or a duration such as `90s`, `5m`, `1h30m`."""
        total = self._seconds(node, what, minimum)
        if total is not None and maximum is not None and total > maximum:
            self.problem(node, f"{what} must be at most {maximum} seconds, not {total}")
            return None
        return total

    def _seconds(self, node: Node, what: str, minimum: int) -> int | None:
        if isinstance(node, ScalarNode) and node.tag == INT_TAG:
            return self.integer(node, what, minimum)
        text = node.value.strip() if isinstance(node, ScalarNode) and node.tag == STR_TAG else ""
        match = _DURATION.match(text)
        if not text or match is None:
            self.problem(
                node,
                f"{what} must be seconds or a duration like 90s, 5m, 1h30m, not {kind_of(node)}",
            )
            return None
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        total = hours * 3600 + minutes * 60 + secs
        if total < minimum:
            self.problem(node, f"{what} must be at least {minimum} seconds, not {text}")
            return None
        return total

    def sequence(
        self, node: Node, what: str, item: Callable[[Node, str], T | None]
    ) -> list[T] | None:
        if not isinstance(node, SequenceNode):
            self.problem(node, f"{what} must be a list, not {kind_of(node)}")
            return None
        items: list[T] = []
        for child in node.value:
            value = item(child, f"an entry of {what}")
            if value is not None:
                items.append(value)
        return items

    def strings(self, node: Node, what: str) -> list[str] | None:
        return self.sequence(node, what, self.string)

    def string_map(self, node: Node, what: str) -> dict[str, str] | None:
        fields = self.mapping(node, what)
        if fields is None:
            return None
        values: dict[str, str] = {}
        for name, (_, value_node) in fields.items():
            value = self.string(value_node, f"{what} '{name}'")
            if value is not None:
                values[name] = value
        return values
