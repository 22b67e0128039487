"""The shared buckets in Redis, for deployments that run one: a hash per bucket (`tokens`,
`updated_at`), changed in an optimistic transaction (WATCH, then MULTI/EXEC, again when another
process changed the bucket in between). Keys expire once a bucket would be full again, so Redis
keeps only the buckets in use."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from dockyard.tiers.ratelimit.buckets import STALE_SECONDS, Grant, Want, refill

KEY_PREFIX = "dockyard:rate:"


class RedisBuckets:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)

    def take(self, wants: Sequence[Want], now: float) -> list[Grant]:
        keys = [KEY_PREFIX + w.key for w in wants]
        grants: list[Grant] = []

        def attempt(pipe: redis.client.Pipeline) -> None:
            grants.clear()
            levels: list[tuple[str, float, float]] = []
            for key, want in zip(keys, wants, strict=True):
                tokens, updated_at = pipe.hmget(key, ["tokens", "updated_at"])
                start = float(tokens) if tokens is not None else float(want.per_minute)
                last = float(updated_at) if updated_at is not None else now
                taken, level, wait = refill(start, last, want, now)
                grants.append(Grant(taken, wait))
                levels.append((key, level, max(now, last)))
            pipe.multi()
            for key, level, updated in levels:
                pipe.hset(key, mapping={"tokens": repr(level), "updated_at": repr(updated)})
                pipe.expire(key, int(STALE_SECONDS))

        self._redis.transaction(attempt, *keys)
        return list(grants)
