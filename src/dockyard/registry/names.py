"""Validation of repository names, tags and digests, raising the protocol's errors."""

from __future__ import annotations

from dockyard.errors import DigestInvalid, NameInvalid, TagInvalid
from dockyard.spec.digest import Digest, InvalidDigest
from dockyard.spec.names import is_valid_name, is_valid_tag


def check_name(name: str) -> str:
    if not is_valid_name(name):
        raise NameInvalid(f"invalid repository name {name!r}", detail={"name": name})
    return name


def check_tag(tag: str) -> str:
    if not is_valid_tag(tag):
        raise TagInvalid(f"invalid tag {tag!r}", detail={"tag": tag})
    return tag


def check_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise DigestInvalid(str(exc), detail={"digest": text}) from exc
