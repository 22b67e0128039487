"""The event contract: what happened (an `Action`), to what (a target), at whose request.

Consumers (webhooks, base-image triggers) read these types, never the stored JSON; the JSON
sent to webhook receivers is ACR's shape and lives in `events/wire.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """ACR's webhook actions, in the order ACR lists them."""

    PUSH = "push"
    DELETE = "delete"
    CHART_PUSH = "chart_push"
    CHART_DELETE = "chart_delete"
    QUARANTINE = "quarantine"
    TAG_DELETE = "tag_delete"
    REFERRER_PUSH = "referrer_push"


class Consumer(StrEnum):
    """The readers of the outbox; each keeps its own position (an `event_cursors` row)."""

    WEBHOOKS = "webhooks"
    BASE_IMAGE_TRIGGERS = "base-image-triggers"


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The HTTP request behind a change, as ACR's payloads report it."""

    id: str
    host: str
    method: str
    useragent: str


@dataclass(frozen=True, slots=True)
class ManifestTarget:
    """A manifest stored under a tag, or untagged (push, chart_push, quarantine,
    referrer_push); `subject` is set for a referrer."""

    repository: str
    digest: str
    media_type: str
    size: int
    tag: str | None = None
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestDeleteTarget:
    """A manifest deleted by digest (delete, chart_delete)."""

    repository: str
    digest: str
    media_type: str


@dataclass(frozen=True, slots=True)
class TagDeleteTarget:
    """A tag deleted, and the manifest it named (tag_delete)."""

    repository: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class RepositoryTarget:
    """A whole repository deleted (delete)."""

    repository: str


Target = ManifestTarget | ManifestDeleteTarget | TagDeleteTarget | RepositoryTarget

# Which targets each action may carry.
TARGETS: dict[Action, tuple[type[Target], ...]] = {
    Action.PUSH: (ManifestTarget,),
    Action.CHART_PUSH: (ManifestTarget,),
    Action.QUARANTINE: (ManifestTarget,),
    Action.REFERRER_PUSH: (ManifestTarget,),
    Action.DELETE: (ManifestDeleteTarget, RepositoryTarget),
    Action.CHART_DELETE: (ManifestDeleteTarget,),
    Action.TAG_DELETE: (TagDeleteTarget,),
}


@dataclass(frozen=True, slots=True)
class Event:
    """A change others may need to hear about, as appended to the outbox."""

    action: Action
    target: Target
    request: RequestInfo | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, TARGETS[self.action]):
            raise TypeError(f"a {self.action} event has no {type(self.target).__name__}")

    @property
    def repository(self) -> str:
        return self.target.repository

    @property
    def tag(self) -> str | None:
        """The tag the event is about, which webhook scopes match."""
        if isinstance(self.target, ManifestTarget | TagDeleteTarget):
            return self.target.tag
        return None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event read back from the outbox: its position, id and time, the typed event, and
    the payload as stored (the exact bytes a webhook delivery sends)."""

    seq: int
    id: str
    created_at: float
    event: Event
    payload: str
