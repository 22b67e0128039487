"""Request rates on real servers: requests over a rate get 429 TOOMANYREQUESTS with a
`Retry-After` that counts down; the registry's rate holds across worker processes; each
identity has its own rate; every request class counts against its own rate; the SKU in force
at run time sets the rates; and `rate_limit_enabled: false` turns it all off.

The rates are made small with DOCKYARD_RATE_LIMITS / DOCKYARD_RATE_LIMITS_PER_IDENTITY. A
bucket holds one minute's worth and refills continuously, so each bound below allows for the
refill during the test (`refill`)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy import func, select

from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import rate_buckets
from tests.conftest import ServerProcess, free_port
from tests.e2e.helpers import IN_CI
from tests.integration.auth_helpers import AuthServer, attach, basic, fetch_token, nonce
from tests.integration.helpers import (
    assert_error,
    assert_status,
    describe,
    location,
    start_upload,
    unique_digest,
)

ServerFactory = Callable[..., ServerProcess]


def limits(registry: dict[str, int], per_identity: dict[str, int] | None = None) -> dict[str, str]:
    env = {"DOCKYARD_RATE_LIMITS": json.dumps(registry)}
    if per_identity is not None:
        env["DOCKYARD_RATE_LIMITS_PER_IDENTITY"] = json.dumps(per_identity)
    return env


def refill(per_minute: int, seconds: float) -> int:
    """The most tokens a bucket can gain in `seconds`."""
    return math.ceil(seconds * per_minute / 60)


def retry_after(resp: httpx.Response) -> int:
    value = resp.headers.get("retry-after")
    assert value is not None, "429 without Retry-After" + describe(resp)
    assert value.isdigit(), "Retry-After is not whole seconds" + describe(resp)
    return int(value)


def assert_too_many(resp: httpx.Response, rate_class: str, bucket: str | None = None) -> int:
    """`resp` is the 429 envelope for `rate_class` (and `bucket`); returns its Retry-After."""
    errors = assert_error(resp, 429, "TOOMANYREQUESTS")
    detail = errors[0].get("detail") or {}
    assert detail.get("rate_class") == rate_class, describe(resp)
    if bucket is not None:
        assert detail.get("bucket") == bucket, describe(resp)
    wait = retry_after(resp)
    assert wait >= 1, describe(resp)
    return wait


def burst(send: Callable[[], httpx.Response], count: int) -> tuple[int, list[httpx.Response]]:
    """Send `count` requests; (how many were not refused, the refusals)."""
    refused = []
    for _ in range(count):
        resp = send()
        if resp.status_code == 429:
            refused.append(resp)
    return count - len(refused), refused


def rate_limited_counts(server: ServerProcess) -> dict[tuple[str, str], float]:
    """dockyard_rate_limited_total by (rate_class, bucket), from /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    found: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("dockyard_rate_limited_total{"):
            labels, value = line.rsplit(" ", 1)
            rate_class = labels.split('rate_class="', 1)[1].split('"', 1)[0]
            bucket = labels.split('bucket="', 1)[1].split('"', 1)[0]
            found[(rate_class, bucket)] = float(value)
    return found


# --- where the buckets are: the database, or Redis ------------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server (skipped where none is installed, except in CI: there
    scripts/test.sh installs it, and a missing server is a failure)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (scripts/test.sh installs it)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield url
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["database", "redis"])
def buckets_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that puts a server's shared buckets in the database or in Redis."""
    if request.param == "database":
        return {}
    url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()  # each test's server starts with full buckets
    return {"DOCKYARD_RATE_LIMIT_REDIS_URL": url}


@pytest.fixture
def reads_server(server_factory: ServerFactory, buckets_env: dict[str, str]) -> ServerProcess:
    return server_factory(env={**limits({"reads": 20}), **buckets_env})


@pytest.fixture
def reads_client(reads_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reads_server.url, timeout=60) as http:
        yield http


# --- over the rate ------------------------------------------------------------------------------


def test_reads_past_the_rate_get_429_with_retry_after(
    reads_server: ServerProcess, reads_client: httpx.Client
) -> None:
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

    counted = rate_limited_counts(reads_server)
    reads_refused = sum(v for (cls, _), v in counted.items() if cls == "reads")
    assert reads_refused == len(refused) + 1, counted


def test_retry_after_counts_down(server_factory: ServerFactory) -> None:
    server = server_factory(env=limits({"reads": 6}))  # a token every 10 s
    with httpx.Client(base_url=server.url, timeout=60) as http:
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


# --- shared by worker processes -----------------------------------------------------------------


def requests_per_worker(server: ServerProcess, endpoint: str) -> dict[str, float]:
    """Requests to `endpoint` counted by each worker process (pid), from its metrics file."""
    counts: dict[str, float] = {}
    for path in (server.data_dir / "run" / "metrics").glob("counter_*.db"):
        pid = path.stem.rsplit("_", 1)[1]
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            if sample == "dockyard_http_requests_total" and labels.get("endpoint") == endpoint:
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def test_two_workers_together_keep_the_registry_rate(
    server_factory: ServerFactory, buckets_env: dict[str, str]
) -> None:
    rate = 600  # batches of 6 tokens
    server = server_factory(workers=2, env={**limits({"reads": rate}), **buckets_env})
    statuses: list[int] = []

    def client_loop() -> None:
        for _ in range(15):
            # New connections now and then, so that both workers take requests.
            with httpx.Client(base_url=server.url, timeout=60) as http:
                statuses.extend(http.get("/v2/_catalog").status_code for _ in range(10))

    started = time.monotonic()
    threads = [threading.Thread(target=client_loop) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len(statuses) == 1200
    assert set(statuses) <= {200, 429}, sorted(set(statuses))
    passed = statuses.count(200)

    served = requests_per_worker(server, "catalog")
    assert len([n for n in served.values() if n >= 100]) == 2, f"one worker took it all: {served}"
    # Never more than the bucket held plus its refill. Fewer only by the tokens that sit in
    # the two workers' unspent batches (a registry and an identity batch each).
    assert passed <= rate + refill(rate, elapsed), f"{passed} of 1200 passed in {elapsed:.1f} s"
    assert passed >= rate - 2 * 2 * (rate // 100), f"{passed} of 1200 passed"


# --- per identity -------------------------------------------------------------------------------


@pytest.fixture
def identity_server(
    server_factory: ServerFactory, buckets_env: dict[str, str]
) -> Iterator[AuthServer]:
    proc = server_factory(
        env={
            "DOCKYARD_AUTH_ENABLED": "true",
            **limits({"reads": 20}, {"reads": 8}),
            **buckets_env,
        }
    )
    srv = attach(proc)
    yield srv
    srv.db.dispose()


def test_each_identity_has_its_own_rate_within_the_registry_rate(
    identity_server: AuthServer,
) -> None:
    srv = identity_server
    users = [srv.user("AcrPull") for _ in range(3)]
    started = time.monotonic()

    def reads(user: tuple[str, str], count: int) -> tuple[int, list[httpx.Response]]:
        with httpx.Client(base_url=srv.url, timeout=60, headers=basic(*user)) as http:
            return burst(lambda: http.get(f"/v2/rate/{nonce()}/tags/list"), count)

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


def test_token_requests_are_limited(server_factory: ServerFactory) -> None:
    proc = server_factory(env={"DOCKYARD_AUTH_ENABLED": "true", **limits({"tokens": 5})})
    srv = attach(proc)
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            scope = "repository:some/repo:pull"
            for _ in range(4):
                assert_status(fetch_token(http, srv.owner(), scope, service=srv.host), 200)
            # Token requests count whatever their answer.
            assert_status(fetch_token(http, basic("owner", "wrong"), scope), 401)
            refused = fetch_token(http, srv.owner(), scope, service=srv.host)
            assert_too_many(refused, "tokens")
            posted = http.post(
                "/oauth2/token",
                data={"grant_type": "password", "username": "owner", "password": "x"},
            )
            assert_too_many(posted, "tokens")
            assert_too_many(http.post("/oauth2/exchange", data={}), "tokens")
            # Other requests of the same caller are not token requests.
            tags = http.get("/v2/some/repo/tags/list", headers=srv.owner())
            assert_error(tags, 404, "NAME_UNKNOWN")
    finally:
        srv.db.dispose()


# --- request classes ----------------------------------------------------------------------------


def test_each_request_class_counts_against_its_own_rate(server_factory: ServerFactory) -> None:
    server = server_factory(
        env=limits({"reads": 5, "writes": 3, "deletes": 2, "referrers": 2}),
    )
    repo = f"rates/{nonce()}"
    digest = unique_digest()
    with httpx.Client(base_url=server.url, timeout=60) as http:
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
    counted = rate_limited_counts(server)
    by_class = {cls: 0.0 for cls in ("reads", "writes", "deletes", "referrers")}
    for (cls, _), value in counted.items():
        by_class[cls] += value
    assert by_class == {"reads": 3, "writes": 4, "deletes": 3, "referrers": 1}, counted


# --- the rates in force -------------------------------------------------------------------------


def referrer_rate(http: httpx.Client) -> int:
    answer = http.get("/api/v1/registry")
    assert_status(answer, 200)
    rates: dict[str, Any] = answer.json()["limits"]["rates_per_minute"]
    return int(rates["referrers"])


def test_a_sku_change_changes_the_rates_in_force(server_factory: ServerFactory) -> None:
    server = server_factory()  # the tier's own rates: referrers 500 (Standard), 2,000 (Premium)
    repo = f"rates/{nonce()}"
    with httpx.Client(base_url=server.url, timeout=60) as http:

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


def test_rate_limits_can_be_turned_off(server_factory: ServerFactory) -> None:
    server = server_factory(
        env={"DOCKYARD_RATE_LIMIT_ENABLED": "false", **limits({"reads": 3, "tokens": 3})}
    )
    with httpx.Client(base_url=server.url, timeout=60) as http:
        passed, refused = burst(lambda: http.get("/v2/_catalog"), 20)
        assert passed == 20, [describe(r) for r in refused[:1]]
    assert rate_limited_counts(server) == {}


def test_unknown_rate_classes_are_refused_at_start(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=limits({"pulls": 5}))
    result = server.dockyard("serve", "--port", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pulls" in result.stdout + result.stderr


def test_redis_holds_the_buckets_when_configured(
    server_factory: ServerFactory, redis_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    server = server_factory(
        env={**limits({"reads": 5}), "DOCKYARD_RATE_LIMIT_REDIS_URL": redis_url}
    )
    with httpx.Client(base_url=server.url, timeout=60) as http:
        passed, _ = burst(lambda: http.get("/v2/_catalog"), 8)
    assert passed == 5
    keys = sorted(k.decode() for k in store.keys("dockyard:rate:*"))
    assert keys == ["dockyard:rate:reads|*", "dockyard:rate:reads|client:127.0.0.1"]
    assert 0 < (store.ttl(keys[0]) or 0) <= 120  # gone once it would be full again
    db = Database(server.database_url)
    try:
        with db.read() as conn:
            rows = conn.execute(select(func.count()).select_from(rate_buckets)).scalar_one()
        assert rows == 0
    finally:
        db.dispose()
    store.close()
