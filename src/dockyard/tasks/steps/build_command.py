"""A `build` step's arguments, as `docker build` takes them, read and confined: the context
and the Dockerfile must lie in the run's workspace, every tag and cache source is an image
reference, and only options that cannot reach the worker's own files or daemon settings are
passed on. The argv this makes gives each option its value in one word (`--tag=...`) and
ends with `--` and the context, so no word of the task file is ever read as another option;
build argument values reach docker through its environment, never its command line."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import Invalid
from dockyard.spec.reference import InvalidReference, parse_reference

# option -> takes a value; both spellings of each.
_VALUED = {
    "-t": "tag", "--tag": "tag",
    "-f": "file", "--file": "file",
    "--build-arg": "build-arg",
    "--target": "target",
    "--platform": "platform",
    "--label": "label",
    "--network": "network",
    "--add-host": "add-host",
    "--cache-from": "cache-from",
}  # fmt: skip
_FLAGS = {"--no-cache", "--pull", "-q", "--quiet", "--rm", "--force-rm"}
# A build argument's name is an environment variable's (its value goes through docker's
# environment); names the docker client itself reads are refused.
_ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLIENT_VARIABLES = ("DOCKER_", "BUILDKIT_", "BUILDX_")
_CLIENT_NAMES = {"PATH", "HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"}
_PLATFORM_RE = re.compile(
    r"^[a-z0-9_-]+(?:/[a-zA-Z0-9_.-]+){0,2}(?:,[a-z0-9_-]+(?:/[a-zA-Z0-9_.-]+){0,2})*$"
)
_ADD_HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*:[0-9A-Fa-f.:\[\]]+$")
_TARGET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# The build's RUN instructions: the daemon's default network, none, or (when the worker
# allows it) the host's.
BUILD_NETWORKS = ("default", "none")
HOST_NETWORK = "host"


class BuildStepInvalid(Invalid):
    """A build step whose arguments cannot be run."""


@dataclass(frozen=True, slots=True)
class BuildCommand:
    context: Path
    dockerfile: Path
    tags: tuple[str, ...]
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    options: tuple[str, ...] = ()  # the other accepted options, each `--name[=value]`

    def argv(self) -> list[str]:
        """`docker build` arguments after the program and `build`; the build arguments are
        named only, their values are in `environment()`."""
        argv = [f"--file={self.dockerfile}"]
        argv += [f"--tag={tag}" for tag in self.tags]
        argv += [f"--build-arg={key}" for key in self.build_args]
        if self.target:
            argv.append(f"--target={self.target}")
        return [*argv, *self.options, "--", str(self.context)]

    def environment(self) -> dict[str, str]:
        """The build arguments' values, for docker's environment (it reads `--build-arg=NAME`
        from there)."""
        return dict(self.build_args)


def parse_build(
    text: str, workspace: Path, no_cache: bool = False, allow_host_network: bool = False
) -> BuildCommand:
    """Read `-t app:1 -f Dockerfile --build-arg X=1 .` against the workspace."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise BuildStepInvalid(f"build: {exc}") from None
    tags: list[str] = []
    build_args: dict[str, str] = {}
    options: list[str] = ["--no-cache"] if no_cache else []
    dockerfile: str | None = None
    target: str | None = None
    positional: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        name, has_value, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in _VALUED:
            if has_value:
                value = inline
            elif index + 1 < len(words):
                index += 1
                value = words[index]
            else:
                raise BuildStepInvalid(f"build: {name} needs a value")
            kind = _VALUED[name]
            if kind == "tag":
                tags.append(_reference(value, "tag"))
            elif kind == "file":
                dockerfile = value
            elif kind == "target":
                target = _checked(value, _TARGET_RE, "--target")
            elif kind == "build-arg":
                key, _, arg = value.partition("=")
                build_args[_build_arg_name(key)] = arg
            else:
                options.append(f"--{kind}={_option_value(kind, value, allow_host_network)}")
        elif word in _FLAGS:
            flag = "--quiet" if word == "-q" else word
            if flag not in options:
                options.append(flag)
        elif word.startswith("-") and word != "-":
            raise BuildStepInvalid(f"build: the option {name} is not supported in a task step")
        else:
            positional.append(word)
        index += 1
    if len(positional) != 1:
        raise BuildStepInvalid("build: name exactly one context folder (such as `.`)")
    context = _inside(workspace, positional[0], "the build context")
    if not context.is_dir():
        raise BuildStepInvalid(f"build: the context {positional[0]!r} is not a folder")
    file = (
        _inside(workspace, dockerfile, "the Dockerfile")
        if dockerfile is not None
        else context / "Dockerfile"
    )
    if not file.is_file():
        raise BuildStepInvalid(f"build: {dockerfile or 'Dockerfile'} is not a file")
    return BuildCommand(context, file, tuple(tags), build_args, target, tuple(options))


def _reference(value: str, what: str) -> str:
    """An image reference, as docker will read it; refused otherwise (a value such as `-v`
    would be an option in any other position)."""
    try:
        return str(parse_reference(value))
    except InvalidReference as exc:
        raise BuildStepInvalid(f"build: the {what} {exc}") from None


def _checked(value: str, pattern: re.Pattern[str], option: str) -> str:
    if not pattern.fullmatch(value):
        raise BuildStepInvalid(f"build: {value!r} is not a valid value of {option}")
    return value


def _build_arg_name(name: str) -> str:
    if not _ARG_NAME_RE.fullmatch(name):
        raise BuildStepInvalid(f"build: {name!r} is not a build argument name")
    if name in _CLIENT_NAMES or name.startswith(_CLIENT_VARIABLES):
        raise BuildStepInvalid(f"build: the build argument {name} is not allowed in a task step")
    return name


def _option_value(kind: str, value: str, allow_host_network: bool) -> str:
    if kind == "cache-from":
        return _reference(value, "cache source")
    if kind == "platform":
        return _checked(value, _PLATFORM_RE, "--platform")
    if kind == "add-host":
        return _checked(value, _ADD_HOST_RE, "--add-host")
    if kind == "network":
        if value == HOST_NETWORK and allow_host_network:
            return value
        if value not in BUILD_NETWORKS:
            allowed = ", ".join(
                (*BUILD_NETWORKS, HOST_NETWORK) if allow_host_network else BUILD_NETWORKS
            )
            raise BuildStepInvalid(
                f"build: --network {value!r} is not allowed on this worker (allowed: {allowed}; "
                "the host network needs DOCKYARD_TASK_ALLOW_HOST_NETWORK)"
            )
        return value
    if "\n" in value or "\r" in value or "\0" in value:
        raise BuildStepInvalid(f"build: the value of --{kind} has a line break")
    return value


def _inside(workspace: Path, given: str, what: str) -> Path:
    """`given` (relative to the workspace, as the step sees it) resolved inside it."""
    if "://" in given or given == "-":
        raise BuildStepInvalid(f"build: {what} must be a path in the workspace: {given!r}")
    resolved = path_inside(workspace, given)
    if resolved is None:
        raise BuildStepInvalid(f"build: {what} {given!r} is outside the workspace")
    return resolved


def path_inside(root: Path, given: str) -> Path | None:
    """`given`, relative to `root`, resolved (links followed); None when it leads out."""
    resolved = (root.resolve() / given).resolve()
    return resolved if resolved.is_relative_to(root.resolve()) else None
