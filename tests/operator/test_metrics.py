"""The operator's `/metrics`, scraped while it reconciles a real shop: reconciles by handler
and outcome, their duration, shops by condition, and what is running or queued."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.operator.conftest import PLATFORM_NS, Operator, eventually
from tests.operator.shops import admin_secret, shop
from tests.operator.test_shared_tier import SHOPS, condition
from tests.support.cluster.apiserver import ApiServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(operator: Operator) -> Samples:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://127.0.0.1:{operator.metrics_port}/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def shops(samples: Samples, status: str, reason: str) -> float:
    return value(
        samples, "shopfleet_operator_shops", condition="Ready", status=status, reason=reason
    )


async def test_metrics_move_with_a_real_reconcile(
    api: ApiServer, operator: Operator, platform_server, platform_token: str
) -> None:
    _, url = platform_server
    operator.use_platform(url, platform_token)
    await api.apply(admin_secret("acme"))
    async with operator.running():
        before = await scrape(operator)  # counters are per process: compare with before
        await api.apply(shop("acme"))
        await eventually(lambda: (c := condition(api, "acme", "Ready")) and c["status"] == "True")

        name = "shopfleet_operator_reconciles_total"

        def runs(samples: Samples, handler: str) -> float:
            return value(samples, name, handler=handler, outcome="success")

        async def counted() -> Samples | None:
            samples = await scrape(operator)
            drifted = runs(samples, "drift") > runs(before, "drift")  # a timer tick a second
            return samples if shops(samples, "True", "ShopReady") == 1 and drifted else None

        ready = await eventually(counted)
        assert runs(ready, "reconcile") > runs(before, "reconcile")
        durations = "shopfleet_operator_reconcile_duration_seconds_count"
        assert value(ready, durations, handler="reconcile") > value(
            before, durations, handler="reconcile"
        )
        assert ("shopfleet_operator_reconciles_in_flight", frozenset()) in ready
        assert ("shopfleet_operator_reconciles_waiting", frozenset()) in ready

        # Suspended: the shop moves from one reason to the other.
        await api.apply(shop("acme", suspended=True))

        async def suspended() -> Samples | None:
            samples = await scrape(operator)
            moved = shops(samples, "False", "Suspended") == 1
            return samples if moved and shops(samples, "True", "ShopReady") == 0 else None

        await eventually(suspended)

        # Deleted: the delete handler counted, the shop no longer counted.
        await api.remove(SHOPS, PLATFORM_NS, "acme")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "acme") is None)

        async def forgotten() -> Samples | None:
            samples = await scrape(operator)
            return samples if shops(samples, "False", "Suspended") == 0 else None

        gone = await eventually(forgotten)
        assert runs(gone, "delete") > runs(before, "delete")
