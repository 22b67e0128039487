"""The pieces of request-rate limiting: which class a request is, the bucket arithmetic, one
process's batches, the settings, and the shared buckets on a real SQLite database."""

from __future__ import annotations

import threading
from pathlib import Path

import pydantic
import pytest

from dockyard.api.ratelimit import rate_class_of
from dockyard.config import RATE_CLASSES, Settings
from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade
from dockyard.tiers.ratelimit import Admitted, Bucket, Grant, LocalBatches, Refill, Refused
from dockyard.tiers.ratelimit.batches import LEASE_SECONDS, batch_size
from dockyard.tiers.ratelimit.buckets import DatabaseBuckets, Want, bucket_key, refill
from dockyard.tiers.table import RateClass
from tests.conftest import fresh_database_url

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v2/a/b/manifests/latest", RateClass.READS),
        ("HEAD", f"/v2/a/blobs/{DIGEST}", RateClass.READS),
        ("GET", "/v2/a/tags/list", RateClass.READS),
        ("GET", "/v2/_catalog", RateClass.READS),
        ("GET", f"/v2/a/referrers/{DIGEST}", RateClass.REFERRERS),
        ("GET", f"/v2/referrers/referrers/{DIGEST}", RateClass.REFERRERS),
        ("GET", "/v2/referrers/manifests/x", RateClass.READS),
        ("POST", "/v2/a/blobs/uploads/", RateClass.WRITES),
        ("PATCH", "/v2/a/blobs/uploads/123", RateClass.WRITES),
        ("PUT", "/v2/a/blobs/uploads/123", RateClass.WRITES),
        ("PUT", "/v2/a/manifests/v1", RateClass.WRITES),
        ("DELETE", f"/v2/a/manifests/{DIGEST}", RateClass.DELETES),
        ("DELETE", "/v2/a/blobs/uploads/123", RateClass.DELETES),
        ("GET", "/oauth2/token", RateClass.TOKENS),
        ("POST", "/oauth2/token", RateClass.TOKENS),
        ("POST", "/oauth2/exchange", RateClass.TOKENS),
        ("GET", "/acr/v1/_catalog", RateClass.READS),
        ("GET", "/acr/v1/a/_tags/v1", RateClass.READS),
        ("PATCH", "/acr/v1/a/_tags/v1", RateClass.WRITES),
        ("DELETE", "/acr/v1/a", RateClass.DELETES),
        ("GET", "/v2/", None),
        ("GET", "/v2", None),
        ("GET", "/healthz", None),
        ("GET", "/metrics", None),
        ("GET", "/api/v1/registry", None),
        ("PATCH", "/api/v1/registry", None),
        ("OPTIONS", "/v2/a/tags/list", None),
    ],
)
def test_request_classes(method: str, path: str, expected: RateClass | None) -> None:
    assert rate_class_of(method, path) == expected


# --- bucket arithmetic --------------------------------------------------------------------------


def test_a_full_bucket_gives_a_batch() -> None:
    taken, level, wait = refill(60.0, 0.0, Want("k", 60, 5), now=100.0)
    assert (taken, level, wait) == (5, 55.0, 0.0)


def test_a_bucket_refills_by_the_second_up_to_one_minute() -> None:
    want = Want("k", 120, 6)  # two tokens a second
    assert refill(0.0, 10.0, want, now=13.0)[:2] == (6, 0.0)
    assert refill(0.0, 0.0, want, now=1000.0)[:2] == (6, 114.0)


def test_an_empty_bucket_says_how_long_until_a_token() -> None:
    taken, level, wait = refill(0.25, 50.0, Want("k", 6, 1), now=50.0)
    assert taken == 0
    assert level == 0.25
    assert wait == pytest.approx(7.5)  # 0.75 of a token at one token per 10 s


def test_only_whole_batches_are_handed_out() -> None:
    taken, level, wait = refill(4.5, 0.0, Want("k", 600, 6), now=0.0)
    assert (taken, level) == (0, 4.5)
    assert wait == pytest.approx(0.15)  # 1.5 tokens at ten a second


def test_given_back_tokens_return_but_never_overfill() -> None:
    assert refill(10.0, 0.0, Want("k", 60, 1, give_back=4), now=0.0)[1] == 13.0
    assert refill(58.0, 0.0, Want("k", 60, 1, give_back=4), now=0.0)[1] == 59.0


def test_a_clock_behind_the_last_take_adds_nothing() -> None:
    assert refill(0.0, 100.0, Want("k", 60, 1), now=90.0)[0] == 0


def test_batches_are_a_hundredth_of_the_rate() -> None:
    assert [batch_size(r) for r in (1, 99, 100, 10_000, 20_000)] == [1, 1, 1, 100, 200]


def test_long_identities_make_bounded_keys() -> None:
    key = bucket_key("reads", "user:" + "x" * 500)
    assert len(key) < 300
    assert key != bucket_key("reads", "user:" + "x" * 499)


# --- one process's batches ----------------------------------------------------------------------


def test_local_batches_serve_until_spent_then_ask_again() -> None:
    local = LocalBatches()
    bucket, mine = Bucket(RateClass.READS, None), Bucket(RateClass.READS, "user:a")
    assert local.check([bucket, mine], 0.0) == Refill([bucket, mine])
    local.apply(bucket, Grant(3, 0.0), 300, 0.0)
    local.apply(mine, Grant(2, 0.0), 300, 0.0)
    assert isinstance(local.check([bucket, mine], 0.1), Admitted)
    assert isinstance(local.check([bucket, mine], 0.1), Admitted)
    assert local.check([bucket, mine], 0.1) == Refill([mine])
    assert local.give_back(bucket) == 1
    assert local.give_back(bucket) == 0


def test_local_batches_lapse() -> None:
    local = LocalBatches()
    bucket = Bucket(RateClass.WRITES, None)
    local.apply(bucket, Grant(5, 0.0), 500, 10.0)
    assert isinstance(local.check([bucket], 10.0 + LEASE_SECONDS - 0.01), Admitted)
    assert local.check([bucket], 10.0 + LEASE_SECONDS) == Refill([bucket])
    assert local.give_back(bucket) == 4


def test_an_empty_bucket_is_refused_locally_with_a_countdown() -> None:
    local = LocalBatches()
    bucket, mine = Bucket(RateClass.TOKENS, None), Bucket(RateClass.TOKENS, "client:1.2.3.4")
    local.apply(bucket, Grant(10, 0.0), 600, 0.0)
    local.apply(mine, Grant(0, 9.5), 6, 0.0)
    assert local.check([bucket, mine], 0.2) == Refused(mine, 10, 6)
    assert local.check([bucket, mine], 4.0) == Refused(mine, 6, 6)
    assert local.check([bucket, mine], 9.4) == Refused(mine, 1, 6)
    assert local.check([bucket, mine], 9.5) == Refill([bucket, mine])  # the registry's lapsed


# --- settings -----------------------------------------------------------------------------------


def test_settings_know_every_rate_class() -> None:
    assert set(RATE_CLASSES) == {c.value for c in RateClass}


@pytest.mark.parametrize(
    "limits", [{"pulls": 5}, {"reads": 0}, {"writes": -1}], ids=["unknown", "zero", "negative"]
)
def test_settings_refuse_bad_rates(limits: dict[str, int]) -> None:
    with pytest.raises(pydantic.ValidationError):
        Settings(rate_limits=limits)
    with pytest.raises(pydantic.ValidationError):
        Settings(rate_limits_per_identity=limits)


# --- the shared buckets, on the test database -------------------------------------------------


def test_concurrent_takes_never_hand_out_more_than_the_bucket_holds(tmp_path: Path) -> None:
    url = fresh_database_url(tmp_path)
    upgrade(url)
    db = Database(url)
    buckets = [DatabaseBuckets(db) for _ in range(4)]  # as four processes would
    taken: list[int] = []

    def take(shared: DatabaseBuckets) -> None:
        for _ in range(40):
            grants = shared.take([Want("reads|*", 300, 3), Want("reads|u", 300, 3)], 1000.0)
            taken.append(min(g.tokens for g in grants))

    threads = [threading.Thread(target=take, args=(b,)) for b in buckets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 300  # all at one instant: the bucket's minute, and not one more
    last = buckets[0].take([Want("reads|*", 300, 3)], 1001.0)[0]
    assert last.tokens == 3  # five tokens a second
    db.dispose()
