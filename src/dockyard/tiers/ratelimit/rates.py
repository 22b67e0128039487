"""The request rates in force: the registry's tier, with the operator's overrides, read again
every few seconds so that a tier change at run time takes effect without a restart."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from dockyard.tiers.policies import PolicyService
from dockyard.tiers.table import RateClass

REFRESH_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Rates:
    """Requests per minute of each class, for the whole registry and for each identity."""

    registry: dict[RateClass, int]
    identity: dict[RateClass, int]

    def per_minute(self, rate_class: RateClass, per_identity: bool) -> int:
        return (self.identity if per_identity else self.registry)[rate_class]


class RateTable:
    """Caches the rates for REFRESH_SECONDS; `current` may read the database (blocking)."""

    def __init__(self, policies: PolicyService, identity_overrides: dict[str, int]) -> None:
        self._policies = policies
        self._identity_overrides = dict(identity_overrides)
        self._lock = threading.Lock()
        self._rates: Rates | None = None
        self._read_at = 0.0

    def current(self) -> Rates:
        with self._lock:
            now = time.monotonic()
            if self._rates is None or now - self._read_at >= REFRESH_SECONDS:
                self._rates = self._read()
                self._read_at = now
            return self._rates

    def _read(self) -> Rates:
        merged = self._policies.rates_per_minute()
        registry = {c: merged[c.value] for c in RateClass}
        identity = {c: self._identity_overrides.get(c.value, registry[c]) for c in RateClass}
        return Rates(registry, identity)
