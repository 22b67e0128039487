"""From rendered task-file text to a TaskFile, checking everything before anything runs."""

from __future__ import annotations

import re
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from dockyard.tasks.taskfile.graph import find_cycle
from dockyard.tasks.taskfile.model import (
    BUILD,
    CMD,
    DEFAULT_VERSION,
    MAX_TIMEOUT,
    PUSH,
    START_AT_ONCE,
    STEP_ID_PREFIX,
    STEP_KINDS,
    V1_1_0,
    VERSIONS,
    Network,
    Secret,
    Step,
    TaskFile,
    Volume,
    VolumeMount,
)
from dockyard.tasks.taskfile.nodes import Reader, compose
from dockyard.tasks.taskfile.problems import Problem, TaskFileInvalid

TOP_LEVEL = {
    "version", "stepTimeout", "workingDirectory", "env", "secrets", "networks", "volumes",
    "alias", "steps",
}  # fmt: skip
_COMMON = {"id", "when", "env", "timeout", "ignoreErrors", "startDelay", "retries", "retryDelay"}
_CONTAINER = {
    "detach", "entryPoint", "ports", "expose", "repeat", "keep", "workingDirectory", "network",
    "pull", "secret", "disableWorkingDirectoryOverride", "isolation",
}  # fmt: skip
STEP_FIELDS = {
    BUILD: _COMMON | _CONTAINER | {"cache"},
    CMD: _COMMON | _CONTAINER | {"user", "privileged", "volumeMounts"},
    PUSH: _COMMON,
}
ALL_STEP_FIELDS = set().union(*STEP_FIELDS.values())
_ENV_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*=", re.DOTALL)
_STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_task_file(text: str) -> TaskFile:
    """The task file in `text` (templates and aliases already applied); TaskFileInvalid lists
    every problem found."""
    root, problems = compose(text)
    if root is None:
        raise TaskFileInvalid(problems or [Problem(0, 0, "the task file is empty")])
    reader = Reader()
    task = _read_task(reader, root)
    if reader.problems or task is None:
        raise TaskFileInvalid(reader.problems or [Problem(0, 0, "the task file has no steps")])
    return task


def _read_task(r: Reader, root: Node) -> TaskFile | None:
    fields = r.mapping(root, "the task file")
    if fields is None:
        return None
    r.unknown_fields(fields, TOP_LEVEL, "the task file")
    top: dict[str, Any] = {}
    version = DEFAULT_VERSION
    if "version" in fields:
        node = fields["version"][1]
        given = r.string(node, "version")
        if given is not None and given not in VERSIONS:
            r.problem(node, f"version '{given}' is not supported (use {' or '.join(VERSIONS)})")
        elif given is not None:
            version = given
    top["version"] = version
    if "alias" in fields and version != V1_1_0:
        r.problem(fields["alias"][0], f"alias needs version {V1_1_0}, the file is {version}")
    if "stepTimeout" in fields:
        top["step_timeout"] = r.seconds(
            fields["stepTimeout"][1], "stepTimeout", minimum=1, maximum=MAX_TIMEOUT
        )
    if "workingDirectory" in fields:
        top["working_directory"] = r.string(fields["workingDirectory"][1], "workingDirectory")
    if "env" in fields:
        top["env"] = _env(r, fields["env"][1], "env")
    if "secrets" in fields:
        top["secrets"] = r.sequence(fields["secrets"][1], "secrets", lambda n, _: _secret(r, n))
    if "networks" in fields:
        top["networks"] = r.sequence(fields["networks"][1], "networks", lambda n, _: _network(r, n))
    if "volumes" in fields:
        top["volumes"] = r.sequence(fields["volumes"][1], "volumes", lambda n, _: _volume(r, n))
    known = _tuples({k: v for k, v in top.items() if v is not None})
    base = TaskFile(**known)
    _check_unique(r, fields, "secrets", [s.id for s in base.secrets], "secret")
    _check_unique(r, fields, "networks", [n.name for n in base.networks], "network")
    _check_unique(r, fields, "volumes", [v.name for v in base.volumes], "volume")

    if "steps" not in fields:
        r.problem(root, "the task file has no steps")
        return None
    steps_node = fields["steps"][1]
    step_nodes = r.sequence(steps_node, "steps", lambda n, _: n)
    if step_nodes is None:
        return None
    if not step_nodes:
        r.problem(steps_node, "the task file has no steps")
        return None
    steps = [
        step
        for index, node in enumerate(step_nodes)
        if (step := _step(r, node, index, base)) is not None
    ]
    # Steps that could not be read still have an id that others may wait for.
    ids = {_given_id(node) or f"{STEP_ID_PREFIX}{i}" for i, node in enumerate(step_nodes)}
    _check_steps(r, steps, base, ids)
    if len(steps) != len(step_nodes):
        return None
    return TaskFile(**{**known, "steps": tuple(steps)})


def _given_id(node: Node) -> str | None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == "id" and isinstance(value, ScalarNode):
                return str(value.value)
    return None


def _check_unique(
    r: Reader, fields: dict[str, tuple[Node, Node]], name: str, items: list[str], what: str
) -> None:
    seen: set[str] = set()
    for key in items:
        if key in seen:
            r.problem(fields[name][1], f"{name}: {what} '{key}' is declared twice")
        seen.add(key)


def _env(r: Reader, node: Node, what: str) -> list[str] | None:
    entries = r.strings(node, what)
    if entries is None:
        return None
    for entry in entries:
        if not _ENV_ENTRY.match(entry):
            r.problem(node, f"{what}: '{entry}' is not NAME=value")
    return entries


def _named(r: Reader, node: Node, what: str, key: str, known: set[str]) -> Any:
    fields = r.mapping(node, f"an entry of {what}")
    if fields is None:
        return None
    r.unknown_fields(fields, known, f"an entry of {what}")
    if key not in fields:
        r.problem(node, f"an entry of {what} has no {key}")
        return None
    return fields


def _secret(r: Reader, node: Node) -> Secret | None:
    fields = _named(r, node, "secrets", "id", {"id", "keyvault", "clientID"})
    if fields is None:
        return None
    sid = r.string(fields["id"][1], "secrets: id")
    vault = r.string(fields["keyvault"][1], "secrets: keyvault") if "keyvault" in fields else None
    client = r.string(fields["clientID"][1], "secrets: clientID") if "clientID" in fields else None
    return None if sid is None else Secret(sid, vault, client)


def _network(r: Reader, node: Node) -> Network | None:
    known = {"name", "driver", "ipv6", "skipCreation", "isDefault"}
    fields = _named(r, node, "networks", "name", known)
    if fields is None:
        return None
    name = r.string(fields["name"][1], "networks: name")
    flags = {
        attr: r.boolean(fields[key][1], f"networks: {key}")
        for key, attr in (("ipv6", "ipv6"), ("skipCreation", "skip_creation"),
                          ("isDefault", "is_default"))
        if key in fields
    }  # fmt: skip
    driver = r.string(fields["driver"][1], "networks: driver") if "driver" in fields else None
    if name is None or None in flags.values():
        return None
    return Network(name, driver, **{k: bool(v) for k, v in flags.items()})


def _volume(r: Reader, node: Node) -> Volume | None:
    fields = _named(r, node, "volumes", "name", {"name", "secret"})
    if fields is None:
        return None
    name = r.string(fields["name"][1], "volumes: name")
    secret = r.string_map(fields["secret"][1], "volumes: secret") if "secret" in fields else {}
    return None if name is None or secret is None else Volume(name, secret)


def _step(r: Reader, node: Node, index: int, task: TaskFile) -> Step | None:
    fields = r.mapping(node, f"step {index + 1}")
    if fields is None:
        return None
    step_id = f"{STEP_ID_PREFIX}{index}"
    if "id" in fields:
        given = r.string(fields["id"][1], f"step {index + 1}: id")
        if given is not None and not _STEP_ID.match(given):
            valid = "letters, digits, '.', '_', '-'"
            r.problem(
                fields["id"][1], f"step {index + 1}: id '{given}' is not a valid name ({valid})"
            )
        elif given is not None:
            step_id = given
    where = f"step '{step_id}'"
    kinds = [k for k in STEP_KINDS if k in fields]
    if len(kinds) != 1:
        found = " and ".join(kinds) if kinds else "none"
        r.problem(node, f"{where}: a step needs exactly one of build, push or cmd, found {found}")
        r.unknown_fields(fields, ALL_STEP_FIELDS | set(STEP_KINDS), where)
        return None
    kind = kinds[0]
    allowed = STEP_FIELDS[kind] | {kind}
    for name, (key, _) in fields.items():
        if name in ALL_STEP_FIELDS and name not in allowed:
            r.problem(key, f"{where}: '{name}' does not apply to a {kind} step")
    r.unknown_fields(fields, ALL_STEP_FIELDS | set(STEP_KINDS), where)

    values: dict[str, Any] = {"kind": kind, "id": step_id, "line": node.start_mark.line + 1}
    values["field_lines"] = tuple((name, v.start_mark.line + 1) for name, (_, v) in fields.items())
    body = fields[kind][1]
    if kind == PUSH:
        values["push"] = r.strings(body, f"{where}: push")
        if values["push"] == []:
            r.problem(body, f"{where}: push names no image")
    else:
        values[kind] = r.string(body, f"{where}: {kind}")
        if values[kind] is not None and not values[kind].strip():
            r.problem(body, f"{where}: {kind} is empty")
    values["timeout"] = task.step_timeout
    readers = _field_readers(r, where)
    for name, (attr, read) in readers.items():
        if name in fields and name in allowed:
            values[attr] = read(fields[name][1])
    # A field that could not be read is already a problem; the step keeps its default so that
    # the checks across steps still run and report everything at once.
    return Step(**_tuples({k: v for k, v in values.items() if v is not None}))


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _field_readers(r: Reader, where: str) -> dict[str, tuple[str, Any]]:
    def boolean(name: str) -> Any:
        return lambda n: r.boolean(n, f"{where}: {name}")

    def string(name: str) -> Any:
        return lambda n: r.string(n, f"{where}: {name}")

    def seconds(name: str, minimum: int = 0) -> Any:
        return lambda n: r.seconds(n, f"{where}: {name}", minimum)

    def integer(name: str) -> Any:
        return lambda n: r.integer(n, f"{where}: {name}")

    def strings(name: str) -> Any:
        return lambda n: r.strings(n, f"{where}: {name}")

    return {
        "when": ("when", lambda n: _when(r, n, where)),
        "detach": ("detach", boolean("detach")),
        "env": ("env", lambda n: _env(r, n, f"{where}: env")),
        "entryPoint": ("entry_point", string("entryPoint")),
        "ports": ("ports", strings("ports")),
        "expose": ("expose", strings("expose")),
        "timeout": ("timeout", lambda n: r.seconds(n, f"{where}: timeout", 1, MAX_TIMEOUT)),
        "ignoreErrors": ("ignore_errors", boolean("ignoreErrors")),
        "retries": ("retries", integer("retries")),
        "retryDelay": ("retry_delay", seconds("retryDelay")),
        "repeat": ("repeat", integer("repeat")),
        "startDelay": ("start_delay", seconds("startDelay")),
        "keep": ("keep", boolean("keep")),
        "workingDirectory": ("working_directory", string("workingDirectory")),
        "user": ("user", string("user")),
        "network": ("network", string("network")),
        "privileged": ("privileged", boolean("privileged")),
        "pull": ("pull", boolean("pull")),
        "secret": ("secret", string("secret")),
        "cache": ("cache", lambda n: _cache(r, n, where)),
        "disableWorkingDirectoryOverride": (
            "disable_working_directory_override",
            boolean("disableWorkingDirectoryOverride"),
        ),
        "isolation": ("isolation", string("isolation")),
        "volumeMounts": ("volume_mounts", lambda n: _mounts(r, n, where)),
    }


def _when(r: Reader, node: Node, where: str) -> list[str] | None:
    ids = r.strings(node, f"{where}: when")
    if ids is None:
        return None
    if not ids:
        r.problem(node, f'{where}: when is empty (use ["-"] to start at once)')
        return None
    if START_AT_ONCE in ids and len(ids) > 1:
        r.problem(node, f'{where}: when cannot mix "-" with step ids')
        return None
    return ids


def _cache(r: Reader, node: Node, where: str) -> bool | None:
    text = r.string(node, f"{where}: cache")
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("enabled", "true", "yes", "on"):
        return True
    if lowered in ("disabled", "false", "no", "off"):
        return False
    r.problem(node, f"{where}: cache must be enabled or disabled, not '{text}'")
    return None


def _mounts(r: Reader, node: Node, where: str) -> list[VolumeMount] | None:
    def mount(child: Node, what: str) -> VolumeMount | None:
        fields = r.mapping(child, f"{where}: {what}")
        if fields is None:
            return None
        r.unknown_fields(fields, {"name", "mountPath"}, f"{where}: volumeMounts")
        if "name" not in fields or "mountPath" not in fields:
            r.problem(child, f"{where}: a volume mount needs name and mountPath")
            return None
        name = r.string(fields["name"][1], f"{where}: volumeMounts name")
        path = r.string(fields["mountPath"][1], f"{where}: volumeMounts mountPath")
        return None if name is None or path is None else VolumeMount(name, path)

    return r.sequence(node, f"{where}: volumeMounts", mount)


def _check_steps(r: Reader, steps: list[Step], task: TaskFile, ids: set[str]) -> None:
    """Checks across steps: ids, `when` references, cycles, names of secrets and volumes."""

    def add(step: Step, field: str, message: str) -> None:
        r.problems.append(Problem(step.line_of(field), 0, f"step '{step.id}': {message}"))

    by_id: dict[str, Step] = {}
    for step in steps:
        if step.id in by_id:
            add(step, "id", f"the id is already used by the step on line {by_id[step.id].line}")
            continue
        by_id[step.id] = step
    secrets = {s.id for s in task.secrets}
    volumes = {v.name for v in task.volumes}
    for step in steps:
        for dep in step.when or ():
            if dep != START_AT_ONCE and dep not in ids:
                add(step, "when", f"when refers to unknown step '{dep}'")
        if step.secret is not None and step.secret not in secrets:
            add(step, "secret", f"secret refers to unknown secret '{step.secret}'")
        for mount in step.volume_mounts:
            if mount.name not in volumes:
                add(step, "volumeMounts", f"volumeMounts refers to unknown volume '{mount.name}'")
    if r.problems:
        return
    cycle = find_cycle(steps)
    if cycle:
        path = " -> ".join(f"'{s}'" for s in [*cycle, cycle[0]])
        add(by_id[cycle[0]], "when", f"when makes a cycle {path}")
