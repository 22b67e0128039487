"""Request rates per minute, per registry and per identity, enforced with token buckets that
every server process shares (`buckets` in the database, or `redis_buckets`), taken in small
batches that each process serves locally (`batches`), at the rates the registry's tier and
the operator allow (`rates`)."""

from dockyard.tiers.ratelimit.batches import (
    Admitted,
    Bucket,
    LocalBatches,
    Refill,
    Refused,
)
from dockyard.tiers.ratelimit.buckets import DatabaseBuckets, Grant, SharedBuckets, Want
from dockyard.tiers.ratelimit.limiter import RateLimiter
from dockyard.tiers.ratelimit.rates import Rates, RateTable

__all__ = [
    "Admitted",
    "Bucket",
    "DatabaseBuckets",
    "Grant",
    "LocalBatches",
    "RateLimiter",
    "RateTable",
    "Rates",
    "Refill",
    "Refused",
    "SharedBuckets",
    "Want",
]
