"""Token-bucket rate limits per client and per shop, in the gateway's memory.

Each gateway replica limits what it sees; with N replicas behind a balancer the effective
limit is about N times the setting, which is what quotas per replica usually mean.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBuckets:
    """Many buckets of one rate and burst, created on first use, forgotten when idle."""

    def __init__(
        self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[object, list[float]] = {}  # key -> [tokens, last refill time]
        self._last_sweep = clock()

    def take(self, key: object, rate: float | None = None, burst: float | None = None) -> float:
        """Take one token; 0.0 when allowed, else the seconds until one is available."""
        rate = rate or self.rate
        burst = burst or self.burst
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [burst - 1, now]
            if now - self._last_sweep > 60:
                self._sweep(now)
            return 0.0
        tokens = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1:
            bucket[0] = tokens - 1
            return 0.0
        bucket[0] = tokens
        return (1 - tokens) / rate

    def _sweep(self, now: float) -> None:
        """Forget buckets that have refilled completely: they hold no information."""
        self._last_sweep = now
        idle = [
            k
            for k, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]
        for key in idle:
            del self._buckets[key]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
