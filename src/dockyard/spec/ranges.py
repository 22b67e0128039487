"""HTTP byte ranges: `Range` for blob GET and `Content-Range` for chunked upload PATCH."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Possessive: a header of many spaces must not cost quadratic backtracking.
_RANGE_RE = re.compile(r"\s*+bytes\s*+=\s*+([0-9]*+)\s*+-\s*+([0-9]*+)\s*+")
_CHUNK_RE = re.compile(r"(?:bytes[ =])?([0-9]+)-([0-9]+)(?:/(?:[0-9]+|\*))?")
# No byte offset of a blob needs more digits than a signed 64-bit integer has; longer numbers
# are refused before int() (which raises past 4300 digits and is slow well before that).
MAX_OFFSET_DIGITS = 19


class RangeNotSatisfiable(ValueError):
    """A well-formed range that lies outside the content."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One byte range of a `Range` header, resolved against `size`.

    None means "serve the whole body": no header, a malformed one, or several ranges (RFC 9110
    lets a server ignore Range). Raises RangeNotSatisfiable for a range past the end.
    """
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header)
    if not match:
        return None
    first, last = (_number(group) for group in match.groups())
    if first is None or last is None:
        return None  # an offset no blob can have: ignored, like any Range the server cannot use
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, min(end, size - 1))


def parse_chunk_range(header: str) -> ByteRange | None:
    """`Content-Range: <start>-<end>` of an upload chunk; None when malformed."""
    match = _CHUNK_RE.fullmatch(header.strip())
    if not match:
        return None
    first, last = _number(match.group(1)), _number(match.group(2))
    if not first or not last:
        return None
    start, end = int(first), int(last)
    if end < start:
        return None
    return ByteRange(start, end)


def _number(digits: str) -> str | None:
    """`digits` without leading zeros ("" stays "", all zeros become "0"); None when the
    number is too long to be a byte offset."""
    if not digits:
        return digits
    significant = digits.lstrip("0") or "0"
    return significant if len(significant) <= MAX_OFFSET_DIGITS else None
