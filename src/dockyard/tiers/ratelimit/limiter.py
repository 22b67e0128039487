"""Admission of one request: a token from the registry-wide bucket of its class and one from
the caller's own bucket. `check` and `apply` run on the event loop and never block; `take` is
the only call that reaches the shared buckets (run it in a worker thread)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.tiers.ratelimit.batches import (
    Admitted,
    Bucket,
    LocalBatches,
    Refill,
    Refused,
    batch_size,
)
from dockyard.tiers.ratelimit.buckets import Grant, SharedBuckets, Want
from dockyard.tiers.ratelimit.rates import RateTable
from dockyard.tiers.table import RateClass


@dataclass(frozen=True, slots=True)
class Taken:
    bucket: Bucket
    grant: Grant
    per_minute: int


class RateLimiter:
    def __init__(self, rates: RateTable, buckets: SharedBuckets) -> None:
        self._rates = rates
        self._buckets = buckets
        self._local = LocalBatches()

    @staticmethod
    def buckets_for(rate_class: RateClass, identity: str) -> tuple[Bucket, Bucket]:
        return Bucket(rate_class, None), Bucket(rate_class, identity)

    def check(self, buckets: Sequence[Bucket]) -> Admitted | Refused | Refill:
        return self._local.check(buckets, time.time())

    def per_minute(self, bucket: Bucket) -> int:
        return self._local.per_minute(bucket)

    def give_backs(self, buckets: Sequence[Bucket]) -> list[tuple[Bucket, int]]:
        """What a take for `buckets` returns of their lapsed batches (now no longer local)."""
        return [(b, self._local.give_back(b)) for b in buckets]

    def take(self, wanted: Sequence[tuple[Bucket, int]]) -> list[Taken]:
        """Blocking: a new batch for each bucket from the shared buckets."""
        rates = self._rates.current()
        wants: list[Want] = []
        limits: list[int] = []
        for bucket, give_back in wanted:
            per_minute = rates.per_minute(bucket.rate_class, bucket.identity is not None)
            limits.append(per_minute)
            wants.append(Want(bucket.key, per_minute, batch_size(per_minute), give_back))
        grants = self._buckets.take(wants, time.time())
        buckets = [bucket for bucket, _ in wanted]
        return [
            Taken(bucket, grant, limit)
            for bucket, grant, limit in zip(buckets, grants, limits, strict=True)
        ]

    def apply(self, taken: Sequence[Taken]) -> None:
        now = time.time()
        for item in taken:
            self._local.apply(item.bucket, item.grant, item.per_minute, now)
