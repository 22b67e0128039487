"""The arguments of `acr purge`: `<repository-regex>:<tag-regex>` filters and `--ago` durations.

As in ACR, the repository expression must match a whole repository name while the tag
expression only has to match somewhere in a tag (anchor it with `^...$` to match whole tags),
and a duration is Go's (`1h30m`, `90s`) with an optional leading count of days (`2d3h`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_AGO_SECONDS = 150 * 365 * 86400.0  # as ACR caps --ago, so that nothing overflows

_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DAYS = re.compile(r"(\d+)d")
# A colon right after `(?` and optional flags opens a group; it does not separate the parts.
_GROUP_OPENER = re.compile(r"\(\?[a-zA-Z-]*$")


class PurgeArgumentError(ValueError):
    """A filter or duration that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class PurgeFilter:
    text: str
    repository: re.Pattern[str]
    tag: re.Pattern[str]

    def matches_repository(self, name: str) -> bool:
        return self.repository.fullmatch(name) is not None

    def matches_tag(self, tag: str) -> bool:
        return self.tag.search(tag) is not None


def _separators(text: str) -> list[int]:
    """Positions of the colons that separate the repository from the tag expression."""
    found: list[int] = []
    in_class = escaped = False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == ":" and not _GROUP_OPENER.search(text[:position]):
            found.append(position)
    return found


def _compile(what: str, expression: str, filter_text: str) -> re.Pattern[str]:
    try:
        return re.compile(expression)
    except re.error as exc:
        raise PurgeArgumentError(
            f"invalid {what} expression {expression!r} in filter {filter_text!r}: {exc}"
        ) from exc


def parse_filter(text: str) -> PurgeFilter:
    """`<repository-regex>:<tag-regex>`, e.g. `hello-world:^1\\.` or `.*/cache:.*`."""
    colons = _separators(text)
    if len(colons) != 1:
        raise PurgeArgumentError(
            f"filter {text!r} must be <repository-regex>:<tag-regex> with one separating colon"
        )
    repository, tag = text[: colons[0]], text[colons[0] + 1 :]
    if not repository:
        raise PurgeArgumentError(f"filter {text!r} has no repository expression")
    if not tag:
        raise PurgeArgumentError(f"filter {text!r} has no tag expression")
    return PurgeFilter(
        text,
        _compile("repository", repository, text),
        _compile("tag", tag, text),
    )


def parse_ago(text: str) -> float:
    """Seconds in `[<days>d][<Go duration>]`: `2d3h6m`, `7d`, `30m`, `1.5h`, `0d`."""
    value = text.strip()
    seconds = 0.0
    days = _DAYS.match(value)
    if days:
        seconds = int(days.group(1)) * 86400.0
        value = value[days.end() :]
    elif not value:
        raise PurgeArgumentError("the duration is empty; give e.g. 2d3h, 7d or 30m")
    if value and value != "0":
        position = 0
        while position < len(value):
            part = _GO_PART.match(value, position)
            if part is None:
                raise PurgeArgumentError(
                    f"invalid duration {text!r}: expected [<days>d]<number><unit>... with units "
                    "h, m, s, ms, us, ns (e.g. 2d3h6m)"
                )
            seconds += float(part.group(1)) * _GO_UNITS[part.group(2)]
            position = part.end()
    return min(seconds, MAX_AGO_SECONDS)
