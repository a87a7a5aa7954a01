"""RoutesReady means the gateway serves the shop, on the simulated cluster: the route table
is a mounted ConfigMap, which the kubelet refreshes in its own time (up to a minute), so
the operator asks each gateway replica what it has loaded before it says so."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.conftest import NAMESPACE, Platform, eventually, example
from tests.cluster.test_failures import pods_of, simulated
from tests.cluster.test_shop_journey import answers, apply, condition, wait_ready

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(900),
    pytest.mark.asyncio(loop_scope="session"),
]


async def test_a_shop_is_ready_when_every_gateway_replica_serves_it(
    platform: Platform, slug: str
) -> None:
    cluster = simulated(platform)
    gateways = await pods_of(platform, "app.kubernetes.io/component=gateway")
    runs = [cluster.node.find(NAMESPACE, p["metadata"]["name"]) for p in gateways]
    assert runs and all(runs), "the gateway's pods run on the node"
    for run in runs:
        run.volume_sync.clear()  # a slow kubelet: the new route table is not mounted yet
    documents = example("shop.yaml", slug=slug)
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    try:
        await apply(platform, documents)

        async def not_loaded() -> dict[str, Any] | None:
            found = await condition(platform, slug, "RoutesReady")
            return found if found.get("reason") == "RouteNotLoaded" else None

        waiting = await eventually(not_loaded, "RouteNotLoaded", platform=platform)
        assert waiting["status"] == "False"
        assert f"of {len(runs)} gateway replica(s)" in waiting["message"], waiting["message"]
        assert (await condition(platform, slug, "Ready"))["status"] == "False"
        async with platform.client(shop["spec"]["hosts"][0]) as client:
            assert await answers(client, "/api/v1/products", 404), "served before it was loaded"
    finally:
        for run in runs:
            run.volume_sync.set()
    await wait_ready(platform, slug)
    assert (await condition(platform, slug, "RoutesReady"))["reason"] == "RouteServed"
    async with platform.client(shop["spec"]["hosts"][0]) as client:
        # Ready means served: the first request after it gets the shop.
        assert await answers(client, "/api/v1/products", 200), "Ready but not served"
