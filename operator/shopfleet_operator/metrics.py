"""The operator's Prometheus metrics, served on `/metrics` of `SHOPFLEET_OPERATOR_METRICS_PORT`
(the chart's `http.metricsPort`, as every shopfleet container), by the kit's listener.

Only the leader reconciles, so only the leader's counters move; a standby serves its
metrics too (all zero but what it counted while it led).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import kopf
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from shopfleet_operator.kube import ApiError

RECONCILES = Counter(
    "shopfleet_operator_reconciles_total",
    "Runs of a Shop's handler, by handler and outcome (success, retry: a temporary error "
    "kopf retries, failed: a permanent error, error: an unexpected exception).",
    ["handler", "outcome"],
)
DURATION = Histogram(
    "shopfleet_operator_reconcile_duration_seconds",
    "How long a Shop's handler ran (waiting for the shop's lock not included).",
    ["handler"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_FLIGHT = Gauge("shopfleet_operator_reconciles_in_flight", "Shop handlers running now.")
WAITING = Gauge(
    "shopfleet_operator_reconciles_waiting",
    "Shop handlers queued behind another run of the same shop (the timer, an update).",
)


def outcome_of(exc: BaseException | None) -> str:
    if exc is None:
        return "success"
    if isinstance(exc, kopf.TemporaryError) or (isinstance(exc, ApiError) and exc.temporary):
        return "retry"
    if isinstance(exc, kopf.PermanentError | ApiError):
        return "failed"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


async def measured(handler: str, lock: asyncio.Lock, run: Callable[[], Awaitable[None]]) -> None:
    """Run one handler of a shop under its lock, counted, timed and its outcome recorded."""
    WAITING.inc()
    try:
        await lock.acquire()
    finally:
        WAITING.dec()
    IN_FLIGHT.inc()
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        await run()
    except BaseException as exc:
        error = exc
        raise
    finally:
        lock.release()
        IN_FLIGHT.dec()
        DURATION.labels(handler).observe(time.perf_counter() - start)
        RECONCILES.labels(handler, outcome_of(error)).inc()


class ShopConditions(Collector):
    """`shopfleet_operator_shops{condition, status, reason}`: how many Shops have each
    condition in each state, as the Shops' watch events last showed them."""

    def __init__(self) -> None:
        self._shops: dict[tuple[str, str], list[tuple[str, str, str]]] = {}

    def clear(self) -> None:
        self._shops.clear()

    def observe(self, event_type: str | None, namespace: str, name: str, status: Any) -> None:
        if event_type == "DELETED":
            self._shops.pop((namespace, name), None)
            return
        conditions = (status or {}).get("conditions") or []
        self._shops[(namespace, name)] = [
            (c.get("type", ""), c.get("status", ""), c.get("reason", "")) for c in conditions
        ]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "shopfleet_operator_shops",
            "Shops by condition (Ready, RoutesReady, ...), its status and reason.",
            labels=["condition", "status", "reason"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for conditions in list(self._shops.values()):
            for key in conditions:
                counts[key] = counts.get(key, 0) + 1
        for key, count in sorted(counts.items()):
            family.add_metric(list(key), count)
        yield family


SHOPS = ShopConditions()
REGISTRY.register(SHOPS)
