"""Request rates on real servers: the registry's rate holds across worker processes (the
buckets in the database or in Redis), and unknown rate classes stop `serve`. Everything one
process shows (429 with a `Retry-After` that counts down, each identity's own rate, the request
classes, the SKU's rates, turning it off, the buckets in Redis) is in
tests/protocol/test_rate_limits.py, which uses the helpers below.

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
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.mmap_dict import MmapedDict

from tests.conftest import ServerProcess, free_port
from tests.e2e.helpers import IN_CI
from tests.integration.helpers import (
    assert_error,
    describe,
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


# --- where the buckets are: the database, or Redis ------------------------------------------


@contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server (skipped where none is installed, except in CI: there
    scripts/test.sh installs it, and a missing server is a failure); its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (scripts/test.sh installs it)")
        pytest.skip("redis-server is not installed")
    port = free_port()
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


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["database", "redis"])
def buckets_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that puts a server's shared buckets in the database or in Redis."""
    if request.param == "database":
        return {}
    url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()  # each test's server starts with full buckets
    return {"DOCKYARD_RATE_LIMIT_REDIS_URL": url}


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


# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): the settings are
# refused before a database is opened.
@pytest.mark.db_independent
def test_unknown_rate_classes_are_refused_at_start(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=limits({"pulls": 5}))
    result = server.dockyard("serve", "--port", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pulls" in result.stdout + result.stderr
