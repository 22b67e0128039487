"""The event outbox, in process on registries of their own (see conftest.py): each change
appends ACR-shaped events in its own transaction, read back from the registry's `events`
table."""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text

from tests.integration.test_durability import MANIFEST, image_manifest, push_blob, push_image
from tests.integration.test_events import HELM_CHART, HELM_CONFIG
from tests.protocol.conftest import BASE_URL, InProcessRegistry, RegistryFactory, sync_client

HOST = urlsplit(BASE_URL).netloc


def outbox(registry: InProcessRegistry) -> list[dict[str, Any]]:
    with registry.services.db.read() as conn:
        rows = conn.execute(text("SELECT payload FROM events ORDER BY seq")).all()
    return [json.loads(row[0]) for row in rows]


def test_changes_append_acr_shaped_events(registry_factory: RegistryFactory) -> None:
    server = registry_factory()
    agent = {"User-Agent": "docker/27.0 go/go1.22"}
    with closing(sync_client(server, headers=agent)) as http:
        digest = push_image(http, "events/app", "v1", [os.urandom(100)])
        body = http.get(f"/v2/events/app/manifests/{digest}").content
        tagged = http.put(
            f"/v2/events/app/manifests/{digest}?tag=a&tag=b",
            content=body,
            headers={"Content-Type": MANIFEST},
        )
        assert tagged.status_code == 201
        # A refused push leaves no event behind.
        missing = image_manifest(b"{}", [b"never uploaded"])
        refused = http.put(
            "/v2/events/app/manifests/bad", content=missing, headers={"Content-Type": MANIFEST}
        )
        assert refused.status_code == 400
        assert http.delete("/v2/events/app/manifests/a").status_code == 202
        assert http.delete(f"/v2/events/app/manifests/{digest}").status_code == 202

        chart = os.urandom(500)
        config = json.dumps({"name": "mychart", "version": "0.1.0"}).encode()
        for blob in (chart, config):
            push_blob(http, "charts/mychart", blob)
        chart_manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": HELM_CONFIG,
                    "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": HELM_CHART,
                        "digest": "sha256:" + hashlib.sha256(chart).hexdigest(),
                        "size": len(chart),
                    }
                ],
            }
        ).encode()
        pushed = http.put(
            "/v2/charts/mychart/manifests/0.1.0",
            content=chart_manifest,
            headers={"Content-Type": MANIFEST},
        )
        assert pushed.status_code == 201
        assert http.delete("/acr/v1/events/app").status_code == 202

    got = outbox(server)
    actions = [(e["action"], e["target"].get("repository"), e["target"].get("tag")) for e in got]
    assert actions == [
        ("push", "events/app", "v1"),
        ("push", "events/app", "a"),
        ("push", "events/app", "b"),
        ("tag_delete", "events/app", "a"),
        ("delete", "events/app", None),
        ("push", "charts/mychart", "0.1.0"),
        ("chart_push", "charts/mychart", "0.1.0"),
        ("delete", "events/app", None),
    ]
    push = got[0]
    assert push["target"] == {
        "mediaType": MANIFEST,
        "size": len(body),
        "digest": digest,
        "length": len(body),
        "repository": "events/app",
        "tag": "v1",
    }
    assert push["request"]["method"] == "PUT"
    assert push["request"]["useragent"] == "docker/27.0 go/go1.22"
    assert push["request"]["host"] == HOST
    assert push["request"]["id"]
    assert push["timestamp"].endswith("Z")
    assert len({e["id"] for e in got}) == len(got)
    assert got[4]["target"] == {"mediaType": MANIFEST, "digest": digest, "repository": "events/app"}
    assert got[5]["target"] == {
        "mediaType": MANIFEST,
        "size": len(chart_manifest),
        "digest": pushed.headers["Docker-Content-Digest"],
        "length": len(chart_manifest),
        "repository": "charts/mychart",
        "tag": "0.1.0",
    }
    chart_event = got[6]["target"]
    assert chart_event["name"] == "mychart"
    assert chart_event["version"] == "0.1.0"
    assert chart_event["digest"] == pushed.headers["Docker-Content-Digest"]
    assert got[7]["target"] == {"repository": "events/app"}


def test_referrer_push_event(registry_factory: RegistryFactory) -> None:
    server = registry_factory()
    with closing(sync_client(server)) as http:
        subject = push_image(http, "events/ref", "v1", [os.urandom(50)])
        empty = push_blob(http, "events/ref", b"{}")
        referrer = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "artifactType": "application/vnd.example.sbom",
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": empty,
                    "size": 2,
                },
                "layers": [],
                "subject": {"mediaType": MANIFEST, "digest": subject, "size": 100},
            }
        ).encode()
        resp = http.put(
            "/v2/events/ref/manifests/sha256:" + hashlib.sha256(referrer).hexdigest(),
            content=referrer,
            headers={"Content-Type": MANIFEST},
        )
        assert resp.status_code == 201
    kinds = [(e["action"], e["target"].get("subject")) for e in outbox(server)]
    assert kinds[-2:] == [("push", None), ("referrer_push", subject)]
