"""The version check (end-1), health and metrics endpoints."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import assert_status, describe, media_type_of, unique_digest

if TYPE_CHECKING:
    from tests.conftest import ServerProcess


def test_v2_base_is_200_with_api_version_header(client: httpx.Client) -> None:
    resp = client.get("/v2/")
    assert_status(resp, 200)
    assert resp.headers.get("docker-distribution-api-version") == "registry/2.0", describe(resp)


def test_v2_base_head_is_200(client: httpx.Client) -> None:
    resp = client.head("/v2/")
    assert_status(resp, 200)
    assert resp.headers.get("docker-distribution-api-version") == "registry/2.0", describe(resp)


def test_v2_base_body_if_any_is_json(client: httpx.Client) -> None:
    """The body MAY describe supported paths; when present it is JSON (distribution sends {})."""
    resp = client.get("/v2/")
    assert_status(resp, 200)
    if resp.content:
        assert media_type_of(resp) == "application/json", describe(resp)
        resp.json()


def test_healthz_is_200(client: httpx.Client) -> None:
    resp = client.get("/healthz")
    assert_status(resp, 200)


def test_metrics_is_prometheus_text(client: httpx.Client) -> None:
    client.get("/v2/")  # some traffic, so request metrics have samples
    resp = client.get("/metrics")
    assert_status(resp, 200)
    ctype = media_type_of(resp)
    assert ctype in ("text/plain", "application/openmetrics-text"), describe(resp)
    text = resp.text
    assert "# TYPE " in text, describe(resp)
    families = list(text_string_to_metric_families(text))
    assert families, "no metric families" + describe(resp)
    assert any(family.samples for family in families), "no samples" + describe(resp)
    for family in families:
        assert family.type in (
            "counter",
            "gauge",
            "histogram",
            "summary",
            "untyped",
            "info",
            "stateset",
            "gaugehistogram",
            "unknown",
        ), family.type


def test_fresh_two_worker_server_answers_first_requests(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """Right after a new server reports healthy, every worker answers without a 5xx (no races
    while workers open or set up the database)."""
    problems: list[str] = []
    for _ in range(4):
        srv = server_factory(workers=2)
        with httpx.Client(base_url=srv.url, timeout=60) as http:

            def hit(i: int, http: httpx.Client = http) -> httpx.Response:
                repo = f"fresh/r{i}"
                if i % 3 == 0:
                    return http.head(f"/v2/{repo}/blobs/{unique_digest()}")
                if i % 3 == 1:
                    return http.post(f"/v2/{repo}/blobs/uploads/")
                return http.get(f"/v2/{repo}/tags/list")

            with ThreadPoolExecutor(max_workers=8) as pool:
                responses = list(pool.map(hit, range(48)))
        problems += [describe(r) for r in responses if r.status_code >= 500]
        srv.stop()
    assert not problems, "\n".join(problems)
