"""The catalog of a registry of its own, in process (see conftest.py); the other listing tests
run on the shared server in tests/integration/test_tags_catalog.py."""

from __future__ import annotations

from tests.integration.helpers import (
    assert_status,
    describe,
    media_type_of,
    next_link,
    push_image,
)
from tests.integration.test_tags_catalog import assert_next
from tests.protocol.conftest import RegistryFactory, sync_client


def test_catalog_pagination_on_fresh_server(registry_factory: RegistryFactory) -> None:
    repos = ["alpha/one", "alpha/two", "beta", "gamma/x/y", "zeta"]
    http = sync_client(registry_factory())
    for name in reversed(repos):
        push_image(http, name, "v1")
    full = http.get("/v2/_catalog")
    assert_status(full, 200)
    assert media_type_of(full) == "application/json", describe(full)
    assert full.json()["repositories"] == repos, describe(full)

    first = http.get("/v2/_catalog", params={"n": 2})
    assert_status(first, 200)
    assert first.json()["repositories"] == repos[:2], describe(first)
    url = assert_next(first, "/v2/_catalog", 2, repos[1])
    second = http.get(url)
    assert second.json()["repositories"] == repos[2:4], describe(second)
    url = assert_next(second, "/v2/_catalog", 2, repos[3])
    third = http.get(url)
    assert third.json()["repositories"] == repos[4:], describe(third)
    assert next_link(third) is None, describe(third)

    after = http.get("/v2/_catalog", params={"last": "beta"})
    assert after.json()["repositories"] == repos[3:], describe(after)
    zero = http.get("/v2/_catalog", params={"n": 0})
    assert_status(zero, 200)
    assert zero.json()["repositories"] == [], describe(zero)
    assert next_link(zero) is None, describe(zero)
    http.close()
