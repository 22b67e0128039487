"""ACR's webhook JSON for events: `id`, `timestamp`, `action`, `target`, `request`.

Receivers compare these bytes with what ACR sends, so the key order and the compact
separators are part of the contract (tests/service/test_events.py pins them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dockyard.events.model import (
    Action,
    Event,
    ManifestDeleteTarget,
    ManifestTarget,
    RepositoryTarget,
    RequestInfo,
    TagDeleteTarget,
    Target,
)


class PayloadInvalid(ValueError):
    """A stored payload that is not an event of this contract."""


def timestamp(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")


def encode(event_id: str, created_at: float, event: Event) -> str:
    payload: dict[str, Any] = {
        "id": event_id,
        "timestamp": timestamp(created_at),
        "action": str(event.action),
        "target": _target(event.action, event.target),
    }
    if event.request is not None:
        request = event.request
        payload["request"] = {
            "id": request.id,
            "host": request.host,
            "method": request.method,
            "useragent": request.useragent,
        }
    return json.dumps(payload, separators=(",", ":"))


def _target(action: Action, target: Target) -> dict[str, Any]:
    if isinstance(target, ManifestTarget):
        wire: dict[str, Any] = {
            "mediaType": target.media_type,
            "size": target.size,
            "digest": target.digest,
        }
        if action is not Action.CHART_PUSH:
            wire["length"] = target.size
        wire["repository"] = target.repository
        if target.tag is not None:
            wire["tag"] = target.tag
        if action is Action.CHART_PUSH:
            # Helm's OCI layout: the repository's last component is the chart, the tag its
            # version.
            wire["name"] = target.repository.rsplit("/", 1)[-1]
            wire["version"] = target.tag or ""
        if target.subject is not None:
            wire["subject"] = target.subject
        return wire
    if isinstance(target, ManifestDeleteTarget):
        return {
            "mediaType": target.media_type,
            "digest": target.digest,
            "repository": target.repository,
        }
    if isinstance(target, TagDeleteTarget):
        return {"repository": target.repository, "tag": target.tag, "digest": target.digest}
    return {"repository": target.repository}


def decode(action: str, payload: str) -> Event:
    """The typed event of a stored payload; PayloadInvalid when it is not one."""
    try:
        known = Action(action)
        document = json.loads(payload)
        target = document["target"]
        request = document.get("request")
        return Event(
            known,
            _read_target(known, target),
            None if request is None else RequestInfo(**{k: str(v) for k, v in request.items()}),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PayloadInvalid(f"{action} event: {exc}") from exc


def _read_target(action: Action, target: dict[str, Any]) -> Target:
    repository = str(target["repository"])
    if action is Action.TAG_DELETE:
        return TagDeleteTarget(repository, str(target["tag"]), str(target["digest"]))
    if action in (Action.DELETE, Action.CHART_DELETE):
        if action is Action.DELETE and "digest" not in target:
            return RepositoryTarget(repository)
        return ManifestDeleteTarget(repository, str(target["digest"]), str(target["mediaType"]))
    tag, subject = target.get("tag"), target.get("subject")
    return ManifestTarget(
        repository,
        str(target["digest"]),
        str(target["mediaType"]),
        int(target["size"]),
        None if tag is None else str(tag),
        None if subject is None else str(subject),
    )
