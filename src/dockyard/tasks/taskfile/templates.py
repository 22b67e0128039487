"""Go-template-like values (`{{.Run.ID}}`, `{{ .Values.x }}`, `{{.Secrets.x}}`) rendered on the
raw text of a task file, before it is read as YAML, as ACR does."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dockyard.tasks.taskfile.problems import Problem

# An action may hold quoted strings, which may themselves hold braces.
_ACTION = re.compile(
    r"\{\{(-?)((?:\"(?:[^\"\\]|\\.)*\"|`[^`]*`|[^\"`}]|\}(?!\}))*?)(-?)\}\}", re.DOTALL
)
_FIELD = re.compile(r"^\.([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_.-]*))?$")
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$|^`([^`]*)`$', re.DOTALL)


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a run knows about itself, for `{{.Run.*}}` and the predefined aliases."""

    id: str
    registry: str  # host[:port] of this registry
    date: datetime = field(default_factory=lambda: datetime.now(UTC))
    os: str = "linux"
    architecture: str = "amd64"
    commit: str = ""
    branch: str = ""
    task_name: str = ""
    shared_volume: str = ""  # the run's workspace volume
    registry_name: str = ""  # by default the registry host's first label

    def name_of_registry(self) -> str:
        if self.registry_name:
            return self.registry_name
        host = self.registry
        if host.startswith("["):
            host = host[: host.index("]") + 1]
        elif host.count(":") == 1:
            host = host.rsplit(":", 1)[0]
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return host.split(".", 1)[0]
        return host  # an address has no name to shorten

    @property
    def date_text(self) -> str:
        # ACR's form: 20190503-043342z
        return self.date.astimezone(UTC).strftime("%Y%m%d-%H%M%Sz")

    def variables(self) -> dict[str, str]:
        return {
            "ID": self.id,
            "Registry": self.registry,
            "RegistryName": self.name_of_registry(),
            "Date": self.date_text,
            "OS": self.os,
            "Architecture": self.architecture,
            "Commit": self.commit,
            "Branch": self.branch,
            "TaskName": self.task_name,
            "SharedVolume": self.shared_volume,
        }


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def render_templates(
    text: str,
    run: RunContext,
    values: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> tuple[str, list[Problem]]:
    """The text with every `{{ ... }}` replaced; unknown names and unsupported actions are
    problems (the text then keeps them as written)."""
    scopes: dict[str, Mapping[str, str]] = {
        "Run": run.variables(),
        "Values": values or {},
        "Secrets": secrets or {},
    }
    problems: list[Problem] = []
    pieces: list[str] = []
    last = 0
    for match in _ACTION.finditer(text):
        trim_left, inner, trim_right = match.group(1), match.group(2).strip(), match.group(3)
        before = text[last : match.start()]
        pieces.append(before.rstrip() if trim_left else before)
        rendered = _evaluate(inner, scopes)
        if isinstance(rendered, Problem):
            line = _line_of(text, match.start())
            problems.append(Problem(line, 0, rendered.message))
            rendered = match.group(0)
        pieces.append(rendered)
        last = match.end()
        if trim_right:
            rest = text[last:]
            last += len(rest) - len(rest.lstrip())
    pieces.append(text[last:])
    return "".join(pieces), problems


def _evaluate(expression: str, scopes: Mapping[str, Mapping[str, str]]) -> str | Problem:
    literal = _STRING.match(expression)
    if literal:
        if literal.group(2) is not None:
            return literal.group(2)
        return bytes(literal.group(1), "utf-8").decode("unicode_escape")
    found = _FIELD.match(expression)
    if found is None:
        supported = '{{.Run.x}}, {{.Values.x}}, {{.Secrets.x}} and "strings"'
        return Problem(0, 0, f"template '{{{{{expression}}}}}' is not supported (only {supported})")
    scope_name, key = found.group(1), found.group(2)
    scope = scopes.get(scope_name)
    if scope is None or key is None:
        return Problem(0, 0, f"template value '.{expression.lstrip('.')}' is unknown")
    if key not in scope:
        return Problem(0, 0, f"template value '.{scope_name}.{key}' is unknown")
    return scope[key]
