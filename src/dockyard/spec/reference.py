"""Image references as docker and the distribution reference grammar read them:
`[host[:port]/]repository[:tag][@digest]`, where the first component is a host when it has a
`.` or a `:`, is `localhost`, or has an upper-case letter."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.spec.digest import Digest
from dockyard.spec.names import is_valid_name, is_valid_tag

_HOST_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(
    rf"^(?:{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?$"
)
MAX_REFERENCE_LENGTH = 1024


class InvalidReference(ValueError):
    """Text that is not an image reference."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    host: str | None  # None: no registry named (docker's default, or this registry's first)
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}" if self.host else self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _names_a_host(component: str) -> bool:
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component.lower() != component
    )


def parse_reference(text: str) -> ImageReference:
    """The reference `text` names; raises InvalidReference."""
    if not text or len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidReference(f"{text!r} is not an image reference")
    rest, at, digest = text.partition("@")
    if at:
        try:
            Digest.parse(digest)
        except ValueError:
            raise InvalidReference(f"{text!r} is not an image reference: bad digest") from None
    host: str | None = None
    first, slash, path = rest.partition("/")
    if slash and _names_a_host(first):
        if not _HOST_RE.fullmatch(first):
            raise InvalidReference(f"{text!r} is not an image reference: bad registry host")
        host, rest = first, path
    repository, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = rest, ""
    if not is_valid_name(repository):
        raise InvalidReference(
            f"{text!r} is not an image reference: bad repository name (lower-case letters, "
            "digits, separators)"
        )
    if colon and "/" not in tag and not is_valid_tag(tag):
        raise InvalidReference(f"{text!r} is not an image reference: bad tag")
    return ImageReference(host, repository, tag or None, digest if at else None)


def is_reference(text: str) -> bool:
    try:
        parse_reference(text)
    except InvalidReference:
        return False
    return True
