"""Request rates at the HTTP edge: the class of each request, who is asking, and the 429
TOOMANYREQUESTS answer with a `Retry-After` (whole seconds) for requests over a rate.

Sits inside AuthGate, which has named the caller by then; the token service, which AuthGate
lets through unguarded, is limited per client address (its callers are not known yet)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
from anyio import to_thread
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard import telemetry
from dockyard.access.caller import Caller
from dockyard.api.errors import error_response
from dockyard.api.routes import REFERRERS
from dockyard.errors import TooManyRequests
from dockyard.tiers.ratelimit import Admitted, Bucket, RateLimiter, Refused
from dockyard.tiers.table import RateClass

log = logging.getLogger("dockyard.ratelimit")

RATE_LIMITED = Counter(
    "dockyard_rate_limited_total",
    "Requests refused with 429 for going over a request rate",
    ["rate_class", "bucket"],
)

TOKEN_PATHS = frozenset({"/oauth2/token", "/oauth2/exchange"})
_CHANGES = {
    "POST": RateClass.WRITES,
    "PUT": RateClass.WRITES,
    "PATCH": RateClass.WRITES,
    "DELETE": RateClass.DELETES,
}
_NOUNS = {
    RateClass.READS: "reads",
    RateClass.WRITES: "writes",
    RateClass.DELETES: "deletes",
    RateClass.REFERRERS: "referrer listings",
    RateClass.TOKENS: "token requests",
}
# Admission normally settles in one or two rounds; many more means that other requests of
# this process keep winning batches of a single token. Past this, the request is refused.
MAX_ROUNDS = 64


def rate_class_of(method: str, path: str) -> RateClass | None:
    """The rate a request counts against; None for those never limited (the /v2/ check,
    health, metrics, the management API)."""
    if path in TOKEN_PATHS:
        return RateClass.TOKENS
    if path.startswith("/v2/") and path != "/v2/":
        if method in ("GET", "HEAD"):
            return RateClass.REFERRERS if REFERRERS.pattern.match(path) else RateClass.READS
        return _CHANGES.get(method)
    if path.startswith("/acr/v1/"):
        if method in ("GET", "HEAD"):
            return RateClass.READS
        return _CHANGES.get(method)
    return None


def identity_of(scope: Scope) -> str:
    """The authenticated principal, or the client address for anonymous callers."""
    caller = scope.get("state", {}).get("caller")
    if isinstance(caller, Caller) and caller.principal.kind != "anonymous":
        return caller.principal.id
    client = scope.get("client")
    return f"client:{client[0] if client else '-'}"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter
        self._refilling: dict[Bucket, anyio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rate_class = rate_class_of(scope["method"], scope["path"])
        if rate_class is None:
            await self.app(scope, receive, send)
            return
        refused = await self._admit(rate_class, identity_of(scope))
        if refused is None:
            await self.app(scope, receive, send)
            return
        bucket = "identity" if refused.bucket.identity is not None else "registry"
        telemetry.record(lambda: RATE_LIMITED.labels(rate_class.value, bucket).inc())
        error = _too_many(refused)
        response = error_response(error, head=scope["method"] == "HEAD")
        await response(scope, receive, send)

    async def _admit(self, rate_class: RateClass, identity: str) -> Refused | None:
        buckets = self.limiter.buckets_for(rate_class, identity)
        for _ in range(MAX_ROUNDS):
            verdict = self.limiter.check(buckets)
            if isinstance(verdict, Admitted):
                return None
            if isinstance(verdict, Refused):
                return verdict
            if not await self._refill(verdict.buckets):
                return None
        return Refused(buckets[0], 1, self.limiter.per_minute(buckets[0]))

    async def _refill(self, buckets: Sequence[Bucket]) -> bool:
        """New batches for `buckets`, one take for those no other request is refilling.
        False when the shared buckets cannot be reached: then requests are let through."""
        waits = [self._refilling[b] for b in buckets if b in self._refilling]
        mine = [b for b in buckets if b not in self._refilling]
        reached = True
        if mine:
            done = anyio.Event()
            for bucket in mine:
                self._refilling[bucket] = done
            try:
                taken = await to_thread.run_sync(self.limiter.take, self.limiter.give_backs(mine))
                self.limiter.apply(taken)
            except Exception:
                log.warning("rate limits not enforced: the shared buckets failed", exc_info=True)
                reached = False
            finally:
                for bucket in mine:
                    del self._refilling[bucket]
                done.set()
        for event in waits:
            await event.wait()
        return reached


def _too_many(refused: Refused) -> TooManyRequests:
    rate_class = refused.bucket.rate_class
    noun = _NOUNS[rate_class]
    if refused.bucket.identity is None:
        message = f"too many {noun}: the registry allows {refused.per_minute} per minute"
    else:
        message = (
            f"too many {noun} from {refused.bucket.identity}: "
            f"each identity may make {refused.per_minute} per minute"
        )
    return TooManyRequests(
        f"{message}; retry in {refused.retry_after} s",
        detail={
            "rate_class": rate_class.value,
            "bucket": "identity" if refused.bucket.identity is not None else "registry",
            "per_minute": refused.per_minute,
        },
        retry_after=refused.retry_after,
    )
