"""Reading a `WWW-Authenticate` header (RFC 9110 section 11.6.1): the challenges another
registry answers a 401 with, such as `Bearer realm="https://auth.example/token",
service="registry.example",scope="repository:app:pull"` or `Basic realm="Registry"`.

The header comes from a server the user named, so it is hostile input: quoted strings with
backslash escapes, commas inside quotes, several challenges in one header, and anything
malformed is `ChallengeInvalid` (a ValueError), never an exception of another kind. The
header and its parameters are bounded in size.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

MAX_HEADER_CHARS = 8192
MAX_PARAMS = 32

# RFC 9110 5.6.2: token characters; 11.2: token68's.
_TCHAR = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_TOKEN68 = frozenset(string.ascii_letters + string.digits + "-._~+/")
_OWS = " \t"


class ChallengeInvalid(ValueError):
    """A `WWW-Authenticate` value that is not a list of challenges."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: its scheme in lower case, and either its parameters (names in lower
    case, values unquoted) or a token68."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def done(self) -> bool:
        return self.at >= len(self.text)

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def skip_spaces(self) -> int:
        start = self.at
        while self.peek() and self.peek() in _OWS:
            self.at += 1
        return self.at - start

    def skip_separators(self) -> None:
        """Empty list elements are allowed: `, ,Basic`."""
        while self.peek() and self.peek() in _OWS + ",":
            self.at += 1

    def token(self) -> str:
        start = self.at
        while self.peek() and self.peek() in _TCHAR:
            self.at += 1
        return self.text[start : self.at]

    def fail(self, what: str) -> ChallengeInvalid:
        return ChallengeInvalid(f"{what} at character {self.at + 1} of the challenge")

    def quoted(self) -> str:
        """A quoted string, the opening quote next; its text with the escapes undone."""
        self.at += 1
        chars: list[str] = []
        while True:
            char = self.peek()
            if not char:
                raise self.fail("an unterminated quoted string")
            self.at += 1
            if char == '"':
                return "".join(chars)
            if char == "\\":
                char = self.peek()
                if not char:
                    raise self.fail("an unterminated quoted string")
                self.at += 1
            if not _is_text(char):
                raise self.fail(f"a control character {char!r} in a quoted string")
            chars.append(char)

    def param_follows(self) -> bool:
        """Whether `name = ...` starts here (rather than a new challenge's scheme)."""
        start = self.at
        try:
            if not self.token():
                return False
            self.skip_spaces()
            return self.peek() == "="
        finally:
            self.at = start


def _is_text(char: str) -> bool:
    return char == "\t" or (char >= " " and char != "\x7f")


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge of a `WWW-Authenticate` value, in order. Raises ChallengeInvalid."""
    if len(header) > MAX_HEADER_CHARS:
        raise ChallengeInvalid(f"the challenge is longer than {MAX_HEADER_CHARS} characters")
    reader = _Reader(header)
    found: list[Challenge] = []
    reader.skip_separators()
    while not reader.done():
        found.append(_challenge(reader))
        reader.skip_separators()
    if not found:
        raise ChallengeInvalid("the challenge is empty")
    return found


def _challenge(reader: _Reader) -> Challenge:
    scheme = reader.token()
    if not scheme:
        raise reader.fail(f"{reader.peek()!r} where an authentication scheme was expected")
    spaced = reader.skip_spaces()
    if reader.peek() in ("", ","):
        return Challenge(scheme.lower())
    if not spaced:
        raise reader.fail(f"{reader.peek()!r} after the scheme {scheme!r}")
    if not reader.param_follows():
        return Challenge(scheme.lower(), token68=_token68(reader))
    params: dict[str, str] = {}
    while True:
        name = reader.token().lower()
        reader.skip_spaces()
        reader.at += 1  # the "=" that param_follows saw
        reader.skip_spaces()
        if reader.peek() == '"':
            value = reader.quoted()
        elif not (value := reader.token()):
            raise reader.fail(f"no value for the parameter {name!r}")
        if name in params:
            raise reader.fail(f"the parameter {name!r} twice")
        if len(params) == MAX_PARAMS:
            raise reader.fail(f"more than {MAX_PARAMS} parameters")
        params[name] = value
        reader.skip_spaces()
        if reader.done():
            return Challenge(scheme.lower(), params)
        if reader.peek() != ",":
            raise reader.fail(f"{reader.peek()!r} after the parameter {name!r}")
        reader.skip_separators()
        if not reader.param_follows():
            return Challenge(scheme.lower(), params)


def _token68(reader: _Reader) -> str:
    start = reader.at
    while reader.peek() and reader.peek() in _TOKEN68:
        reader.at += 1
    if reader.at == start:
        raise reader.fail(f"{reader.peek()!r} where parameters were expected")
    while reader.peek() == "=":
        reader.at += 1
    value = reader.text[start : reader.at]
    reader.skip_spaces()
    if reader.peek() not in ("", ","):
        raise reader.fail(f"{reader.peek()!r} after a token68")
    return value


def find(challenges: list[Challenge], scheme: str) -> Challenge | None:
    """The first challenge of `scheme` (case-insensitive)."""
    wanted = scheme.lower()
    return next((c for c in challenges if c.scheme == wanted), None)
