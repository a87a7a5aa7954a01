from __future__ import annotations

from shopfleet.gateway.ratelimit import TokenBuckets, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=10, burst=5, clock=clock)
    assert [buckets.take("a") for _ in range(5)] == [0.0] * 5
    wait = buckets.take("a")
    assert 0.09 < wait <= 0.1  # one token every 100 ms
    assert buckets.take("b") == 0.0  # keys are independent
    clock.now += 0.1
    assert buckets.take("a") == 0.0


def test_a_per_call_rate_overrides_the_default() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=1000, burst=1000, clock=clock)
    assert buckets.take("shop", 1.0, 1) == 0.0
    assert buckets.take("shop", 1.0, 1) > 0.5


def test_idle_buckets_are_forgotten() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=10, burst=5, clock=clock)
    buckets.take("old")
    clock.now += 120
    buckets.take("new")
    assert "old" not in buckets._buckets


def test_retry_after_is_a_whole_number_of_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(2.2) == "3"
