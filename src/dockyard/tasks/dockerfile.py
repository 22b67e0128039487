"""The base images of a Dockerfile, per stage: global ARGs resolved (build args over
defaults), stage aliases followed to the image they start from, `scratch` kept as such; the
runtime base is that of the stage the image is built from (the last one, or the target)."""

from __future__ import annotations

import io
import re
import shlex

from dockerfile_parse import DockerfileParser

from dockyard.errors import Invalid
from dockyard.tasks.model import BaseImage

SCRATCH = "scratch"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Inside ${...}: NAME, then optionally :- - :+ + and a word (which may hold more variables).
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?$", re.DOTALL)


class DockerfileInvalid(Invalid):
    """A Dockerfile whose stages cannot be read."""


def substitute(text: str, values: dict[str, str]) -> str:
    """Expand $NAME, ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word} and ${NAME+word} as
    Dockerfiles do (unset names expand to nothing; `\\$` is a literal dollar)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("\\$", i):
            out.append("$")
            i += 2
        elif text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            found = _BRACED.match(text, i + 2, end) if end >= 0 else None
            if found is None:
                out.append(text[i:] if end < 0 else text[i : end + 1])
                i = len(text) if end < 0 else end + 1
                continue
            name, op, word = found.group(1), found.group(2), found.group(3) or ""
            out.append(_expand(name, op, word, values))
            i = end + 1
        else:
            bare = _NAME.match(text, i + 1)
            if bare is None:
                out.append("$")
                i += 1
            else:
                out.append(values.get(bare.group(0), ""))
                i = bare.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing a `${` whose body starts at `start`, or -1."""
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _expand(name: str, op: str | None, word: str, values: dict[str, str]) -> str:
    present = name in values
    value = values.get(name, "")
    if op is None:
        return value
    if op == ":-":
        return value if value else substitute(word, values)
    if op == "-":
        return value if present else substitute(word, values)
    if op == ":+":
        return substitute(word, values) if value else ""
    return substitute(word, values) if present else ""  # "+"


def _arg_values(value: str, known: dict[str, str], build_args: dict[str, str]) -> None:
    """Fold one ARG instruction (`NAME`, `NAME=default`, several) into `known`."""
    try:
        words = shlex.split(value, posix=True)
    except ValueError as exc:
        raise DockerfileInvalid(f"ARG {value!r}: {exc}") from None
    for word in words:
        name, has_default, default = word.partition("=")
        if name in build_args:
            known[name] = build_args[name]
        elif has_default:
            known[name] = substitute(default, known)
        else:
            known.setdefault(name, "")


def _from_parts(value: str) -> tuple[str, str | None]:
    """(image, alias) of a FROM instruction's value, flags such as --platform skipped."""
    words = [w for w in value.split() if not w.startswith("--")]
    if not words:
        raise DockerfileInvalid(f"FROM {value!r} names no image")
    alias = None
    if len(words) >= 3 and words[1].lower() == "as":
        alias = words[2].lower()
    elif len(words) != 1:
        raise DockerfileInvalid(f"FROM {value!r}: expected 'FROM image [AS name]'")
    return words[0], alias


def base_images(
    content: bytes, build_args: dict[str, str] | None = None, target: str | None = None
) -> list[BaseImage]:
    """Every stage's base image, in order; raises DockerfileInvalid for a Dockerfile without
    stages or a target that is no stage."""
    args = build_args or {}
    parser = DockerfileParser(fileobj=io.BytesIO(content), env_replace=False)
    known: dict[str, str] = {}
    stages: list[tuple[str | None, str]] = []  # (alias, image the stage starts from)
    aliases: dict[str, str] = {}
    for instruction in parser.structure:
        keyword = str(instruction["instruction"]).upper()
        value = str(instruction["value"])
        if keyword == "ARG" and not stages:
            _arg_values(value, known, args)
        elif keyword == "FROM":
            written, alias = _from_parts(value)
            image = substitute(written, known)
            if not image:
                raise DockerfileInvalid(f"FROM {value!r} resolves to an empty image name")
            image = aliases.get(image.lower(), image)
            if image.lower() == SCRATCH:
                image = SCRATCH
            stages.append((alias, image))
            if alias is not None:
                aliases[alias] = image
    if not stages:
        raise DockerfileInvalid("the Dockerfile has no FROM instruction")
    runtime = len(stages) - 1
    if target is not None:
        names = [alias for alias, _ in stages]
        if target.lower() not in names:
            raise DockerfileInvalid(f"target stage {target!r} is not in the Dockerfile")
        runtime = names.index(target.lower())
    return [
        BaseImage(stage=i, name=alias, image=image, runtime=i == runtime)
        for i, (alias, image) in enumerate(stages)
    ]
