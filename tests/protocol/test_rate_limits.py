"""Request rates, in process on registries of their own (see conftest.py): requests over a rate
get 429 TOOMANYREQUESTS with a `Retry-After` that counts down; each identity has its own rate;
every request class counts against its own rate; the SKU in force at run time sets the rates;
`rate_limit_enabled: false` turns it all off; the buckets live in the database or in Redis.
The registry's rate across worker processes is in tests/integration/test_rate_limits.py.

The counter `dockyard_rate_limited_total` belongs to the test process, which every registry of
the session shares: the tests compare it before and after."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from sqlalchemy import func, select

from dockyard.storage.db.schema import rate_buckets
from tests.integration.auth_helpers import basic, fetch_token, nonce
from tests.integration.helpers import (
    assert_error,
    assert_status,
    describe,
    location,
    start_upload,
    unique_digest,
)
from tests.integration.test_rate_limits import (
    assert_too_many,
    burst,
    refill,
    retry_after,
    running_redis,
)
from tests.protocol.conftest import BASE_URL, InProcessRegistry, RegistryFactory, sync_client

SERVICE = urlsplit(BASE_URL).netloc


def rate_limited_counts(http: httpx.Client) -> dict[tuple[str, str], float]:
    """dockyard_rate_limited_total by (rate_class, bucket), from /metrics."""
    text = http.get("/metrics").text
    found: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("dockyard_rate_limited_total{"):
            labels, value = line.rsplit(" ", 1)
            rate_class = labels.split('rate_class="', 1)[1].split('"', 1)[0]
            bucket = labels.split('bucket="', 1)[1].split('"', 1)[0]
            found[(rate_class, bucket)] = float(value)
    return found


def counted_since(
    http: httpx.Client, before: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    """The refusals counted since `before` (series that did not move are left out)."""
    now = rate_limited_counts(http)
    moved = {key: value - before.get(key, 0.0) for key, value in now.items()}
    return {key: value for key, value in moved.items() if value}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["database", "redis"])
def buckets(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings that put a registry's shared buckets in the database or in Redis."""
    if request.param == "database":
        return {}
    url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()  # each test's registry starts with full buckets
    return {"redis_url": url}


# --- over the rate ------------------------------------------------------------------------------


def test_reads_past_the_rate_get_429_with_retry_after(
    registry_factory: RegistryFactory, buckets: dict[str, Any]
) -> None:
    reads_client = sync_client(registry_factory(rate_limit={"limits": {"reads": 20}, **buckets}))
    before = rate_limited_counts(reads_client)
    started = time.monotonic()
    passed, refused = burst(lambda: reads_client.get("/v2/_catalog"), 30)
    elapsed = time.monotonic() - started
    assert 20 <= passed <= 20 + refill(20, elapsed), f"{passed} reads passed of 30"
    assert refused, "nothing was refused"
    # 20 per minute is a token every 3 s.
    assert 1 <= assert_too_many(refused[0], "reads") <= 3
    assert "20 per minute" in refused[0].json()["errors"][0]["message"]

    head = reads_client.head(f"/v2/some/repo/manifests/{unique_digest()}")
    assert_status(head, 429)
    assert head.content == b"", describe(head)
    assert 1 <= retry_after(head) <= 3

    # The version check, health, metrics and the management API are never limited.
    for path in ("/v2/", "/healthz", "/metrics", "/api/v1/registry"):
        for _ in range(5):
            assert_status(reads_client.get(path), 200)

    counted = counted_since(reads_client, before)
    reads_refused = sum(v for (cls, _), v in counted.items() if cls == "reads")
    assert reads_refused == len(refused) + 1, counted
    reads_client.close()


def test_retry_after_counts_down(registry_factory: RegistryFactory) -> None:
    # A token every 10 s.
    http = sync_client(registry_factory(rate_limit={"limits": {"reads": 6}}))
    passed, _ = burst(lambda: http.get("/v2/_catalog"), 6)
    assert passed == 6
    first = http.get("/v2/_catalog")
    first_wait = assert_too_many(first, "reads")
    assert 8 <= first_wait <= 10, describe(first)

    time.sleep(3.2)
    later = http.get("/v2/_catalog")
    later_wait = assert_too_many(later, "reads")
    assert first_wait - 4 <= later_wait <= first_wait - 2, describe(later)

    time.sleep(later_wait + 0.3)
    assert_status(http.get("/v2/_catalog"), 200)
    # That was the one token: the next request waits for another whole period.
    assert 8 <= assert_too_many(http.get("/v2/_catalog"), "reads") <= 10
    http.close()


# --- per identity -------------------------------------------------------------------------------


def new_user(registry: InProcessRegistry, role: str) -> tuple[str, str]:
    """A new user with `role` over every repository; (name, password)."""
    access = registry.services.auth.access
    name = f"u{nonce()}"
    password = access.users.create(name, "user", "test")
    access.roles.assign(name, role, "*", "test")
    return name, password


def test_each_identity_has_its_own_rate_within_the_registry_rate(
    registry_factory: RegistryFactory, buckets: dict[str, Any]
) -> None:
    registry = registry_factory(
        auth=True,
        rate_limit={"limits": {"reads": 20}, "per_identity": {"reads": 8}, **buckets},
    )
    users = [new_user(registry, "AcrPull") for _ in range(3)]
    started = time.monotonic()

    def reads(user: tuple[str, str], count: int) -> tuple[int, list[httpx.Response]]:
        http = sync_client(registry, headers=basic(*user))
        try:
            return burst(lambda: http.get(f"/v2/rate/{nonce()}/tags/list"), count)
        finally:
            http.close()

    first_passed, first_refused = reads(users[0], 12)
    assert 8 <= first_passed <= 8 + refill(8, time.monotonic() - started)
    assert_too_many(first_refused[0], "reads", "identity")
    assert f"user:{users[0][0]}" in first_refused[0].json()["errors"][0]["message"]

    # The first user's empty bucket does not stop the second, and the registry has room.
    second_passed, second_refused = reads(users[1], 8)
    assert second_passed == 8, [describe(r) for r in second_refused]

    # 16 of the registry's 20 are spent: the third user meets the registry's limit.
    third_passed, third_refused = reads(users[2], 8)
    spent = first_passed + second_passed
    assert 20 - spent <= third_passed <= 20 - spent + refill(20, time.monotonic() - started)
    assert third_refused, "the registry's rate let every read of the third user through"
    assert_too_many(third_refused[0], "reads", "registry")


def test_token_requests_are_limited(registry_factory: RegistryFactory) -> None:
    registry = registry_factory(auth=True, rate_limit={"limits": {"tokens": 5}})
    http = sync_client(registry)
    scope = "repository:some/repo:pull"
    for _ in range(4):
        assert_status(fetch_token(http, registry.owner_basic(), scope, service=SERVICE), 200)
    # Token requests count whatever their answer.
    assert_status(fetch_token(http, basic("owner", "wrong"), scope), 401)
    refused = fetch_token(http, registry.owner_basic(), scope, service=SERVICE)
    assert_too_many(refused, "tokens")
    posted = http.post(
        "/oauth2/token",
        data={"grant_type": "password", "username": "owner", "password": "x"},
    )
    assert_too_many(posted, "tokens")
    assert_too_many(http.post("/oauth2/exchange", data={}), "tokens")
    # Other requests of the same caller are not token requests.
    tags = http.get("/v2/some/repo/tags/list", headers=registry.owner_basic())
    assert_error(tags, 404, "NAME_UNKNOWN")
    http.close()


# --- request classes ----------------------------------------------------------------------------


def test_each_request_class_counts_against_its_own_rate(registry_factory: RegistryFactory) -> None:
    registry = registry_factory(
        rate_limit={"limits": {"reads": 5, "writes": 3, "deletes": 2, "referrers": 2}}
    )
    repo = f"rates/{nonce()}"
    digest = unique_digest()
    http = sync_client(registry)
    before = rate_limited_counts(http)
    # writes: upload POST, PATCH and PUT, manifest PUT, /acr/v1 PATCH
    upload = location(start_upload(http, repo))
    for _ in range(2):
        assert_status(http.post(f"/v2/{repo}/blobs/uploads/"), 202)
    assert_too_many(http.post(f"/v2/{repo}/blobs/uploads/"), "writes")
    assert_too_many(http.patch(upload, content=b"x"), "writes")
    assert_too_many(http.put(f"/v2/{repo}/manifests/latest", content=b"{}"), "writes")
    assert_too_many(http.patch(f"/acr/v1/{repo}", json={}), "writes")

    # deletes: manifests, upload sessions, /acr/v1
    for _ in range(2):
        assert_error(http.delete(f"/v2/{repo}/manifests/{digest}"), 404)
    assert_too_many(http.delete(f"/v2/{repo}/manifests/{digest}"), "deletes")
    assert_too_many(http.delete(upload), "deletes")
    assert_too_many(http.delete(f"/acr/v1/{repo}"), "deletes")

    # referrer listings are not reads
    for _ in range(2):
        assert_status(http.get(f"/v2/{repo}/referrers/{digest}"), 200, 404)
    assert_too_many(http.get(f"/v2/{repo}/referrers/{digest}"), "referrers")

    # reads: manifests, blobs, tags, the catalog, upload status, /acr/v1 GET
    for path in (
        f"/v2/{repo}/manifests/{digest}",
        f"/v2/{repo}/blobs/{digest}",
        f"/v2/{repo}/tags/list",
        "/v2/_catalog",
    ):
        assert http.get(path).status_code != 429
    assert http.get("/acr/v1/_catalog").status_code != 429
    assert_too_many(http.get(f"/v2/{repo}/manifests/latest"), "reads")
    assert_too_many(http.get(upload), "reads")
    assert_too_many(http.get(f"/acr/v1/{repo}/_tags"), "reads")

    for path in ("/v2/", "/healthz", "/api/v1/registry"):
        assert_status(http.get(path), 200)
    counted = counted_since(http, before)
    by_class = {cls: 0.0 for cls in ("reads", "writes", "deletes", "referrers")}
    for (cls, _), value in counted.items():
        by_class[cls] += value
    assert by_class == {"reads": 3, "writes": 4, "deletes": 3, "referrers": 1}, counted
    http.close()


# --- the rates in force -------------------------------------------------------------------------


def referrer_rate(http: httpx.Client) -> int:
    answer = http.get("/api/v1/registry")
    assert_status(answer, 200)
    rates: dict[str, Any] = answer.json()["limits"]["rates_per_minute"]
    return int(rates["referrers"])


def test_a_sku_change_changes_the_rates_in_force(registry_factory: RegistryFactory) -> None:
    # The tier's own rates: referrers 500 (Standard), 2,000 (Premium).
    http = sync_client(registry_factory())
    repo = f"rates/{nonce()}"

    def referrers() -> httpx.Response:
        return http.get(f"/v2/{repo}/referrers/{unique_digest()}")

    assert referrer_rate(http) == 500
    assert_status(http.patch("/api/v1/registry", json={"sku": "Premium"}), 200)
    assert referrer_rate(http) == 2000
    # More than Standard's whole minute, without a refusal.
    passed, refused = burst(referrers, 800)
    assert passed == 800, [describe(r) for r in refused[:1]]

    assert_status(http.patch("/api/v1/registry", json={"sku": "Standard"}), 200)
    assert referrer_rate(http) == 500
    time.sleep(3.5)  # the processes read the rates again within a few seconds
    started = time.monotonic()
    passed, refused = burst(referrers, 800)
    elapsed = time.monotonic() - started
    # The bucket kept 1,200 tokens, but Standard's holds at most 500.
    assert refused, "Standard's rate was not in force"
    assert 500 - 20 <= passed <= 500 + refill(500, elapsed) + 20, f"{passed} passed"
    assert_too_many(refused[0], "referrers")
    assert "500 per minute" in refused[0].json()["errors"][0]["message"]
    http.close()


def test_rate_limits_can_be_turned_off(registry_factory: RegistryFactory) -> None:
    registry = registry_factory(rate_limit={"enabled": False, "limits": {"reads": 3, "tokens": 3}})
    http = sync_client(registry)
    before = rate_limited_counts(http)
    passed, refused = burst(lambda: http.get("/v2/_catalog"), 20)
    assert passed == 20, [describe(r) for r in refused[:1]]
    assert counted_since(http, before) == {}
    http.close()


def test_redis_holds_the_buckets_when_configured(
    registry_factory: RegistryFactory, redis_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    registry = registry_factory(rate_limit={"limits": {"reads": 5}, "redis_url": redis_url})
    http = sync_client(registry)
    passed, _ = burst(lambda: http.get("/v2/_catalog"), 8)
    http.close()
    assert passed == 5
    keys = sorted(k.decode() for k in store.keys("dockyard:rate:*"))
    assert keys == ["dockyard:rate:reads|*", "dockyard:rate:reads|client:127.0.0.1"]
    assert 0 < (store.ttl(keys[0]) or 0) <= 120  # gone once it would be full again
    with registry.services.db.read() as conn:
        rows = conn.execute(select(func.count()).select_from(rate_buckets)).scalar_one()
    assert rows == 0
    store.close()
