"""The event outbox's reader for the process tests (GC, retention, purge and soft delete read
the events their server appended). The outbox's own tests run in process:
tests/protocol/test_events.py."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, text

from tests.conftest import ServerProcess

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def outbox(server: ServerProcess) -> list[dict[str, Any]]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT payload FROM events ORDER BY seq")).all()
    finally:
        engine.dispose()
    return [json.loads(row[0]) for row in rows]
