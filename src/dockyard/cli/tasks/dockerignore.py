"""`.dockerignore` files as Docker reads and applies them.

Reading: a line starting with `#` is a comment; others are trimmed, a leading `!` marks an
exception (re-inclusion), and the rest is cleaned as Go's `filepath.Clean` does (so `./a`,
`a/` and `a//b/../c` become `a`, `a` and `a/c`), with a leading `/` dropped: patterns are
relative to the context's root.

Matching: `*` is any run of characters but `/`, `?` one such character, `[...]` a character
class, `\\` escapes the next character, and `**` any number of whole path components
(`**/x`, `a/**/x`, `a/**`). A path is excluded when the last pattern that matches it, or one
of its parent directories, is not an exception; so an excluded directory excludes everything
under it unless a later `!` pattern takes part of it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

_BOM = "\ufeff"


class IgnoreFileError(ValueError):
    """A pattern Docker would refuse too (a lone `!`, an unclosed `[`, a trailing `\\`)."""


def clean_path(path: str) -> str:
    """Go's `filepath.Clean` on a slash-separated path: no empty, `.` or inner `..`
    components, no trailing slash, and `.` for nothing at all."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def read_patterns(text: str) -> list[str]:
    """The patterns of a `.dockerignore` file's text, cleaned, exceptions still `!`-prefixed."""
    patterns: list[str] = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix(_BOM) if number == 0 else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        if line:
            line = clean_path(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if exception else line)
    return patterns


def _translate_class(pattern: str, start: int) -> tuple[str, int]:
    """The regular expression of the character class opening at `pattern[start]` (a `[`),
    and the index just past its closing `]`."""
    i = start + 1
    body = ""
    if i < len(pattern) and pattern[i] == "^":
        body = "^"
        i += 1
    members = 0
    while i < len(pattern) and (pattern[i] != "]" or members == 0):
        ch, escaped = pattern[i], pattern[i] == "\\"
        if escaped:
            i += 1
            if i >= len(pattern):
                break
            ch = pattern[i]
        is_range = (
            ch == "-" and not escaped and members > 0 and pattern[i + 1 : i + 2] not in ("", "]")
        )
        body += "-" if is_range else re.escape(ch)
        members += 1
        i += 1
    if i >= len(pattern) or members == 0:
        raise IgnoreFileError(f"unclosed or empty character class in pattern {pattern!r}")
    return f"[{body}]", i + 1


def _translate(pattern: str) -> str:
    """A cleaned pattern as an anchored regular expression over slash-separated paths."""
    regex = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < len(pattern) and pattern[i] == "*":
                i += 1
                if i < len(pattern) and pattern[i] == "/":
                    i += 1
                regex += ".*" if i == len(pattern) else "(?:.*/)?"
            else:
                regex += "[^/]*"
        elif ch == "?":
            regex += "[^/]"
        elif ch == "[":
            part, i = _translate_class(pattern, i - 1)
            regex += part
        elif ch == "\\":
            if i >= len(pattern):
                raise IgnoreFileError(f"pattern {pattern!r} ends with an escape character")
            regex += re.escape(pattern[i])
            i += 1
        else:
            regex += re.escape(ch)
    return regex


def _component(part: str) -> re.Pattern[str] | None:
    if "**" in part:
        return None
    try:
        return re.compile(_translate(part))
    except (IgnoreFileError, re.error):
        return None  # e.g. a class split by a `/`: treated as "could match"


@dataclass(frozen=True)
class Pattern:
    """One cleaned pattern; `exception` for a `!` pattern."""

    text: str
    exception: bool

    @classmethod
    def parse(cls, line: str) -> Pattern:
        exception = line.startswith("!")
        text = clean_path(line[1:].strip() if exception else line.strip())
        if exception and text == ".":
            raise IgnoreFileError('illegal exception pattern "!"')
        return cls(text, exception)

    @cached_property
    def regex(self) -> re.Pattern[str]:
        try:
            return re.compile(_translate(self.text))
        except re.error as exc:
            raise IgnoreFileError(f"invalid pattern {self.text!r}: {exc}") from exc

    @cached_property
    def component_regexes(self) -> tuple[re.Pattern[str] | None, ...]:
        """One regex per path component; None for a component holding `**`."""
        return tuple(_component(part) for part in self.text.split("/"))

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None

    def may_match_under(self, directory: str) -> bool:
        """Whether this pattern can match `directory`, one of its parents, or anything below
        it. When in doubt (a `**`), yes."""
        parts = directory.split("/")
        for index, component in enumerate(self.component_regexes):
            if index >= len(parts) or component is None:
                return True
            if component.fullmatch(parts[index]) is None:
                return False
        return True


class DockerIgnore:
    """The patterns of one `.dockerignore`, and whether a context path is excluded by them."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.patterns: tuple[Pattern, ...] = tuple(
            Pattern.parse(line) for line in lines if line.strip()
        )
        for pattern in self.patterns:
            _ = pattern.regex  # refuse a bad pattern now, not halfway through a walk

    @classmethod
    def from_text(cls, text: str) -> DockerIgnore:
        return cls(read_patterns(text))

    def keeping(self, paths: Sequence[str]) -> DockerIgnore:
        """These patterns plus exceptions for `paths` (the Dockerfile, the ignore file),
        which are always sent, as the docker CLI does."""
        extra = [f"!{clean_path(path)}" for path in paths]
        return DockerIgnore([*(self._line(p) for p in self.patterns), *extra])

    @staticmethod
    def _line(pattern: Pattern) -> str:
        return ("!" if pattern.exception else "") + pattern.text

    @property
    def has_exceptions(self) -> bool:
        return any(pattern.exception for pattern in self.patterns)

    def excludes(self, path: str) -> bool:
        """Whether the context path `path` (slash-separated, relative to the root) is left
        out: the last pattern matching it or a parent directory decides."""
        path = clean_path(path)
        parents = path.split("/")[:-1]
        prefixes = ["/".join(parents[: i + 1]) for i in range(len(parents))]
        excluded = False
        for pattern in self.patterns:
            # Only a pattern that would flip the current answer needs evaluating.
            if pattern.exception != excluded:
                continue
            if pattern.matches(path) or any(pattern.matches(p) for p in prefixes):
                excluded = not pattern.exception
        return excluded

    def may_include_under(self, directory: str) -> bool:
        """Whether anything below an excluded `directory` could be taken back by an exception
        (if not, a walk skips the directory without looking inside)."""
        directory = clean_path(directory)
        return any(p.exception and p.may_match_under(directory) for p in self.patterns)
