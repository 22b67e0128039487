"""A `build` step's arguments, as `docker build` takes them, read and confined: the context
and the Dockerfile must lie in the run's workspace, and only options that cannot reach the
worker's own files or daemon settings are passed on."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import Unsupported

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


class BuildStepInvalid(Unsupported):
    """A build step whose arguments cannot be run."""


@dataclass(frozen=True, slots=True)
class BuildCommand:
    context: Path
    dockerfile: Path
    tags: tuple[str, ...]
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    options: tuple[str, ...] = ()  # the other accepted options, as given

    def argv(self) -> list[str]:
        """`docker build` arguments after the program and `build`."""
        argv = ["-f", str(self.dockerfile)]
        for tag in self.tags:
            argv += ["-t", tag]
        for key, value in self.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        if self.target:
            argv += ["--target", self.target]
        return [*argv, *self.options, str(self.context)]


def parse_build(text: str, workspace: Path, no_cache: bool = False) -> BuildCommand:
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
                tags.append(value)
            elif kind == "file":
                dockerfile = value
            elif kind == "target":
                target = value
            elif kind == "build-arg":
                key, _, arg = value.partition("=")
                build_args[key] = arg
            else:
                options += [f"--{kind}", value]
        elif word in _FLAGS:
            if word not in options:
                options.append(word)
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
