"""`$Name` aliases: predefined ones from the run, and (v1.1.0) the task file's own, from
`alias.values` and from the files named in `alias.src`. `$$` writes a literal `$`; a `$Name`
that is no alias stays as written, so shell variables in commands pass through."""

from __future__ import annotations

import re
from collections.abc import Mapping

from yaml.nodes import Node

from dockyard.tasks.taskfile.model import DEFAULT_VERSION, V1_1_0
from dockyard.tasks.taskfile.nodes import Reader, compose
from dockyard.tasks.taskfile.problems import Problem
from dockyard.tasks.taskfile.templates import RunContext

_ALIAS = re.compile(r"\$(\$|[A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PREDEFINED = (
    "ID", "SharedVolume", "Registry", "RegistryName", "Date", "OS", "Architecture", "Commit",
    "Branch",
)  # fmt: skip


def predefined_aliases(run: RunContext) -> dict[str, str]:
    variables = run.variables()
    return {name: variables[name] for name in PREDEFINED}


def declared_aliases(
    text: str, sources: Mapping[str, str] | None = None
) -> tuple[str, dict[str, str], list[Problem]]:
    """The file's version and its own aliases (`alias.src` files first, `alias.values` over
    them); `sources` holds the text of each file `alias.src` names."""
    root, problems = compose(text)
    if root is None:
        return DEFAULT_VERSION, {}, problems
    reader = Reader()
    fields = reader.mapping(root, "the task file")
    if fields is None:
        return DEFAULT_VERSION, {}, reader.problems
    version_node = fields.get("version", (None, None))[1]
    version = DEFAULT_VERSION
    if version_node is not None:
        version = reader.string(version_node, "version") or DEFAULT_VERSION
    if "alias" not in fields or version != V1_1_0:
        return version, {}, []  # parsing the whole file reports misplaced alias sections
    aliases = _alias_section(reader, fields["alias"][1], sources or {})
    return version, aliases, reader.problems


def _alias_section(r: Reader, node: Node, sources: Mapping[str, str]) -> dict[str, str]:
    fields = r.mapping(node, "alias")
    if fields is None:
        return {}
    r.unknown_fields(fields, {"src", "values"}, "alias")
    aliases: dict[str, str] = {}
    if "src" in fields:
        for name in r.strings(fields["src"][1], "alias: src") or []:
            if name not in sources:
                r.problem(fields["src"][1], f"alias: src '{name}' was not found")
                continue
            aliases.update(_alias_file(r, name, sources[name], fields["src"][1]))
    if "values" in fields:
        values = r.string_map(fields["values"][1], "alias: values") or {}
        _check_names(r, fields["values"][1], values)
        aliases.update(values)
    return aliases


def _alias_file(r: Reader, name: str, text: str, where: Node) -> dict[str, str]:
    root, problems = compose(text)
    file_reader = Reader()
    values = file_reader.string_map(root, f"alias file '{name}'") if root is not None else {}
    for p in [*problems, *file_reader.problems]:
        r.problem(where, f"alias: src '{name}': {p}")
    _check_names(r, where, values or {})
    return values or {}


def _check_names(r: Reader, node: Node, values: Mapping[str, str]) -> None:
    for name in values:
        if not _NAME.match(name):
            r.problem(node, f"alias '{name}' is not a valid name (letters, digits, '_')")


def apply_aliases(text: str, aliases: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "$":
            return "$"
        return aliases.get(name, match.group(0))

    return _ALIAS.sub(replace, text)
