"""Content digests (OCI image-spec, descriptor.md#digests): sha256 and sha512."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


class Hasher(Protocol):
    @property
    def name(self) -> str: ...
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hasher: ...


class InvalidDigest(ValueError):
    """The text is not a digest this registry can verify."""


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        match = _DIGEST_RE.fullmatch(text)
        if not match:
            raise InvalidDigest(f"invalid digest {text!r}")
        algorithm, hex_part = match.groups()
        expected = HEX_LENGTH.get(algorithm)
        if expected is None:
            raise InvalidDigest(f"unsupported digest algorithm {algorithm!r}")
        if len(hex_part) != expected or not re.fullmatch(r"[a-f0-9]+", hex_part):
            raise InvalidDigest(f"invalid {algorithm} digest {text!r}")
        return cls(algorithm, hex_part)

    def hasher(self) -> Hasher:
        return new_hasher(self.algorithm)


def new_hasher(algorithm: str = "sha256") -> Hasher:
    if algorithm not in HEX_LENGTH:
        raise InvalidDigest(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return Digest(algorithm, hasher.hexdigest())


def is_digest_reference(reference: str) -> bool:
    """A manifest reference is a digest when it contains ':' (tags never do)."""
    return ":" in reference
