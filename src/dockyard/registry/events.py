"""Registry events in ACR's webhook shape, appended to the outbox (the `events` table) inside
the transaction of the change they describe, so that a change is never without its event."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from dockyard.spec import mediatypes
from dockyard.storage.db.schema import events

PUSH, DELETE = "push", "delete"
CHART_PUSH, CHART_DELETE = "chart_push", "chart_delete"
TAG_DELETE, REFERRER_PUSH, QUARANTINE = "tag_delete", "referrer_push", "quarantine"
ACTIONS = (PUSH, DELETE, CHART_PUSH, CHART_DELETE, TAG_DELETE, REFERRER_PUSH, QUARANTINE)


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The HTTP request behind a change, as ACR's payloads report it."""

    id: str
    host: str
    method: str
    useragent: str

    def payload(self) -> dict[str, str]:
        return {
            "id": self.id,
            "host": self.host,
            "method": self.method,
            "useragent": self.useragent,
        }


def is_chart(config_media_type: str | None) -> bool:
    return config_media_type == mediatypes.HELM_CONFIG


_INSERT_EVENT = events.insert()


def append(
    conn: Connection,
    action: str,
    repository: str,
    target: dict[str, Any],
    request: RequestInfo | None,
) -> None:
    now = time.time()
    event_id = str(uuid.uuid4())
    payload: dict[str, Any] = {
        "id": event_id,
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        "action": action,
        "target": target,
    }
    if request is not None:
        payload["request"] = request.payload()
    row = {
        "id": event_id,
        "created_at": now,
        "action": action,
        "repository": repository,
        "tag": target.get("tag"),
        "payload": json.dumps(payload, separators=(",", ":")),
    }
    conn.execute(_INSERT_EVENT, row)


def push_target(
    repository: str, digest: str, media_type: str, size: int, tag: str | None, chart: bool
) -> dict[str, Any]:
    target: dict[str, Any] = {
        "mediaType": media_type,
        "size": size,
        "digest": digest,
        "length": size,
        "repository": repository,
    }
    if tag is not None:
        target["tag"] = tag
    if chart:
        # Helm's OCI layout: the repository's last component is the chart, the tag its version.
        del target["length"]
        target["name"] = repository.rsplit("/", 1)[-1]
        target["version"] = tag or ""
    return target


def delete_target(repository: str, digest: str, media_type: str) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "repository": repository}
