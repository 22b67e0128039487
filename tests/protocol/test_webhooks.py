"""The webhook definitions' validation on the management API, in process on a registry of its
own (see conftest.py); delivery, retries and crashes are in tests/integration/test_webhooks.py."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.helpers import assert_error
from tests.protocol.conftest import RegistryFactory, sync_client


def test_validation_and_private_targets(registry_factory: RegistryFactory) -> None:
    http = sync_client(registry_factory())

    def create(**body: Any) -> httpx.Response:
        base = {"name": "hookvalid", "uri": "http://93.184.215.14/x", "actions": ["push"]}
        return http.post("/api/v1/webhooks", json={**base, **body})

    for uri in (
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
    ):
        resp = create(uri=uri)
        assert resp.status_code == 400, (uri, resp.text)
    assert create(uri="ftp://example.com/x").status_code == 400
    assert create(name="bad").status_code == 400
    assert create(name="bad-name").status_code == 400
    assert create(actions=["pull"]).status_code == 400
    assert_error(create(actions=["push", " "], scope="a b"), 400, "UNSUPPORTED")
    assert create().status_code == 201
    # A name taken is a conflict, an unknown name is not found: the kinds of every
    # service, not NAME_UNKNOWN (a registry name) or UNSUPPORTED with a 409.
    assert_error(create(), 409, "CONFLICT")
    patched = http.patch("/api/v1/webhooks/hookvalid", json={"uri": "http://127.0.0.1/"})
    assert_error(patched, 400, "UNSUPPORTED")
    assert_error(http.get("/api/v1/webhooks/nosuchhook"), 404, "NOT_FOUND")
    assert_error(http.post("/api/v1/webhooks/nosuchhook/ping"), 404, "NOT_FOUND")
    assert_error(http.get("/api/v1/webhooks/nosuchhook/events"), 404, "NOT_FOUND")
    assert_error(http.delete("/api/v1/webhooks/nosuchhook"), 404, "NOT_FOUND")
    assert http.delete("/api/v1/webhooks/hookvalid").status_code == 204
    assert http.get("/api/v1/webhooks").json() == []
    http.close()
