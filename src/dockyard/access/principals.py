"""Who is asking: the admin user, a user or service principal, a repository-scoped token,
a task run (its own identity, access/run_identity.py), or nobody (anonymous)."""

from __future__ import annotations

from dataclasses import dataclass

REFRESH_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # admin | user | token | run (a task run's own identity) | anonymous
    name: str

    @property
    def id(self) -> str:
        """The principal as tokens and the audit log name it."""
        if self.kind in ("admin", "anonymous"):
            return self.kind
        return f"{self.kind}:{self.name}"

    @classmethod
    def from_id(cls, text: str) -> Principal:
        if text in ("admin", "anonymous"):
            return cls(text, text)
        kind, _, name = text.partition(":")
        if kind not in ("user", "token", "run") or not name:
            raise ValueError(f"invalid principal {text!r}")
        return cls(kind, name)


ANONYMOUS = Principal("anonymous", "anonymous")
ADMIN = Principal("admin", "admin")
