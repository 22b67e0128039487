"""One process's share of the buckets: tokens taken in a batch and spent locally, so that most
requests never touch the shared buckets. A batch lapses after LEASE_SECONDS and its unused
tokens go back with the next take, so no process sits on tokens that another one needs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.tiers.ratelimit.buckets import Grant, bucket_key
from dockyard.tiers.table import RateClass

LEASE_SECONDS = 1.0
BATCHES_PER_MINUTE_RATE = 100  # a batch is 1/100 of the per-minute rate, at least one token
PRUNE_EVERY_SECONDS = 30.0


def batch_size(per_minute: int) -> int:
    return max(1, per_minute // BATCHES_PER_MINUTE_RATE)


@dataclass(frozen=True, slots=True)
class Bucket:
    rate_class: RateClass
    identity: str | None  # None: the registry-wide bucket

    @property
    def key(self) -> str:
        return bucket_key(self.rate_class.value, self.identity or "*")


@dataclass(frozen=True, slots=True)
class Admitted:
    pass


@dataclass(frozen=True, slots=True)
class Refused:
    bucket: Bucket
    retry_after: int  # whole seconds until the bucket holds a token again
    per_minute: int


@dataclass(frozen=True, slots=True)
class Refill:
    buckets: list[Bucket]  # those whose local batch is spent or lapsed


ADMITTED = Admitted()


@dataclass(slots=True)
class _Batch:
    tokens: int = 0
    lapses_at: float = 0.0
    empty_until: float = 0.0  # the shared bucket has no batch for this process before this
    per_minute: int = 0


class LocalBatches:
    """Not thread-safe: one event loop owns it."""

    def __init__(self) -> None:
        self._batches: dict[Bucket, _Batch] = {}
        self._pruned_at = 0.0

    def check(self, buckets: Sequence[Bucket], now: float) -> Admitted | Refused | Refill:
        """Spend one token of each bucket when every one of them has a token here."""
        if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._prune(now)
        batches = [self._batches.get(b) or self._batches.setdefault(b, _Batch()) for b in buckets]
        refused: Refused | None = None
        missing: list[Bucket] = []
        for bucket, batch in zip(buckets, batches, strict=True):
            if batch.tokens > 0 and now < batch.lapses_at:
                continue
            if now < batch.empty_until:
                wait = max(1, math.ceil(batch.empty_until - now))
                if refused is None or wait > refused.retry_after:
                    refused = Refused(bucket, wait, batch.per_minute)
            else:
                missing.append(bucket)
        if refused is not None:
            return refused
        if missing:
            return Refill(missing)
        for batch in batches:
            batch.tokens -= 1
        return ADMITTED

    def give_back(self, bucket: Bucket) -> int:
        """The unused tokens of a bucket's lapsed batch, which no longer count here."""
        batch = self._batches.get(bucket)
        if batch is None:
            return 0
        unused, batch.tokens = batch.tokens, 0
        return unused

    def per_minute(self, bucket: Bucket) -> int:
        """The bucket's rate as of its last take (0 before any)."""
        batch = self._batches.get(bucket)
        return batch.per_minute if batch else 0

    def apply(self, bucket: Bucket, grant: Grant, per_minute: int, now: float) -> None:
        batch = self._batches.setdefault(bucket, _Batch())
        batch.tokens = grant.tokens
        batch.lapses_at = now + LEASE_SECONDS
        batch.empty_until = 0.0 if grant.tokens else now + grant.wait_seconds
        batch.per_minute = per_minute

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        idle = [
            b
            for b, batch in self._batches.items()
            if now >= batch.lapses_at and now >= batch.empty_until
        ]
        for bucket in idle:
            del self._batches[bucket]
