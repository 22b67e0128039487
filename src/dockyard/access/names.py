"""The names of users, tokens and scope maps: what a name may be, and the refusal of one that
is not."""

from __future__ import annotations

import re

from dockyard.errors import Invalid

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
# Users may also be named as identity providers name them (`upn`, `preferred_username`,
# `email` claims): an e-mail address or UPN, `local@domain`, at most 128 characters. The local
# part keeps to characters that need no quoting in a URL path, a shell word or `user:<name>`.
_DOMAIN_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
EMAIL_NAME_RE = re.compile(
    rf"(?=.{{3,128}}\Z)[a-zA-Z0-9][a-zA-Z0-9._'+-]{{0,63}}@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*"
)


def check_name(kind: str, name: str) -> str:
    """`name` when it is a valid name for a `kind` (token, scope map); Invalid otherwise."""
    if not NAME_RE.fullmatch(name):
        also = " (or, for a user, an e-mail address or UPN)" if kind == "user" else ""
        raise Invalid(
            f"invalid {kind} name {name!r}: letters, digits, '.', '_', '-', at most 64{also}"
        )
    return name


def check_user_name(name: str) -> str:
    """A user's name: a plain name, or an e-mail address or UPN."""
    if EMAIL_NAME_RE.fullmatch(name):
        return name
    return check_name("user", name)
