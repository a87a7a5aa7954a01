"""The operator reads the children it manages from a watch-fed cache: a drift check of a
settled shared shop asks the API server for the Shop alone (no GET of each child, no
cluster-wide list of namespaces), and drift is still seen and repaired."""

from __future__ import annotations

import asyncio

from tests.operator.conftest import PLATFORM_NS, Operator, eventually
from tests.operator.shops import admin_secret, shop
from tests.operator.test_shared_tier import condition, routes
from tests.support.cluster.apiserver import ApiServer

INGRESSES = "networking.k8s.io/v1/ingresses"


async def test_drift_checks_read_the_cache_not_the_api_server(
    api: ApiServer, operator: Operator
) -> None:
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme"))
    async with operator.running():
        await eventually(lambda: condition(api, "acme", "Ready"))
        start = len(api.audit)
        await asyncio.sleep(3.5)  # three drift checks (one a second here)
        seen = [a for a in api.audit[start:] if a.user == operator.user]
        reads = sorted({f"{a.verb} {a.resource}" for a in seen if a.verb in ("get", "list")})
        assert reads == ["get shops"], reads  # the Shop afresh; its children from the cache

        # Drift reaches the cache by the watch, and the timer repairs it.
        name = "shop-acme-acme.example.com"
        await api.remove(INGRESSES, PLATFORM_NS, name)
        cm = api.obj("v1/configmaps", PLATFORM_NS, "shopfleet-routes")
        await api.apply({**cm, "data": {"routes.json": '{"shops": {}}'}})
        await eventually(lambda: api.obj(INGRESSES, PLATFORM_NS, name))
        await eventually(lambda: "acme" in routes(api))
