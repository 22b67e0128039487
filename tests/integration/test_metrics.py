"""`/metrics` with credentials on, and the series operators look for.

With auth on, `serve` used to import prometheus_client (to create the first owner) before it
set the multiprocess directory, so the workers' series went nowhere and `/metrics` was empty.
The gauges that come from the database are computed by the scraped process alone, so with two
workers they are what the database holds, not twice that."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.auth_helpers import AuthServer, basic, start_auth_server
from tests.integration.helpers import assert_status, push_image, random_bytes, upload_blob
from tests.integration.task_helpers import context_tar, create_run, upload_source
from tests.integration.test_webhooks import FAST, Receiver

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of /metrics (a new connection each time: any worker may answer)."""
    resp = httpx.get(f"{url}/metrics", timeout=30)
    assert_status(resp, 200)
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def eventually(
    url: str, check: Callable[[Samples], bool], what: str, timeout: float = 30
) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            shown = {k: v for k, v in samples.items() if not k[0].startswith("dockyard_http")}
            raise AssertionError(f"timed out waiting for {what}; series: {shown}")
        time.sleep(0.3)


def test_metrics_with_auth_on_show_the_registry(tmp_path: Path) -> None:
    refused = Receiver(status=404)  # every delivery to it fails for good (dead)
    refused.start()
    orphan = random_bytes(4321)
    srv: AuthServer = start_auth_server(
        tmp_path / "metrics",
        workers=2,
        DOCKYARD_TASKS_ENABLED="false",  # the run stays queued
        DOCKYARD_GC_INTERVAL_SECONDS="1",
        DOCKYARD_GC_GRACE_SECONDS="4",
        **FAST,
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
            # Request series are there with credentials on (they were not).
            assert_status(owner.get("/v2/"), 200)
            first = scrape(srv.url)
            assert any(k[0] == "dockyard_http_requests_total" for k in first), sorted(first)

            hook = owner.post(
                "/api/v1/webhooks",
                json={"name": "refused", "uri": refused.url, "actions": ["push"]},
            )
            assert_status(hook, 201)
            push_image(owner, "metrics/one", "v1")
            push_image(owner, "metrics/two", "v1")
            upload_blob(owner, "metrics/one", orphan)  # no manifest needs it: GC frees it
            run = create_run(
                owner, source=upload_source(owner, context_tar({"Dockerfile": "FROM scratch\n"}))
            )
            assert run["status"] == "Queued"
        failed = httpx.get(f"{srv.url}/v2/", headers=basic("owner", "not-the-password"), timeout=60)
        assert failed.status_code == 401

        with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
            catalog = owner.get("/v2/_catalog").json()["repositories"]
            events = owner.get("/api/v1/webhooks/refused/events")
            assert_status(events, 200)

        def settled(s: Samples) -> bool:
            return value(s, "dockyard_webhook_deliveries", status="failed") == 2 and (
                value(s, "dockyard_gc_bytes_freed_total") or 0
            ) >= len(orphan)

        eventually(srv.url, settled, "the dead deliveries and a GC run")
        time.sleep(2.5)  # past the gauges' cache, which may predate the GC run
        samples = scrape(srv.url)
        with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as owner:
            usage = owner.get("/api/v1/usage").json()
        # Gauges from the database, once however many workers there are (each scrape may be
        # answered by another worker; the cache is a couple of seconds at most).
        for _ in range(6):
            assert value(samples, "dockyard_storage_bytes") == usage["storage"]["used_bytes"], (
                samples
            )
            assert (
                value(samples, "dockyard_repositories") == usage["repository_count"] == len(catalog)
            )
            assert value(samples, "dockyard_task_runs", status="queued") == 1
            assert value(samples, "dockyard_task_runs", status="running") == 0
            assert value(samples, "dockyard_webhook_deliveries", status="pending") == 0
            assert value(samples, "dockyard_webhook_deliveries", status="failed") == 2
            samples = scrape(srv.url)
        # Counters, summed over the worker processes.
        assert value(samples, "dockyard_auth_failures_total") == 1
        assert (value(samples, "dockyard_gc_runs_total") or 0) >= 1
        assert value(samples, "dockyard_gc_bytes_freed_total") == len(orphan)
    finally:
        srv.close()
        refused.stop()
    assert "Traceback" not in srv.proc.log()
