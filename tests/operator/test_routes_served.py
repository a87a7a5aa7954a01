"""RoutesReady means the gateway serves the route: the operator asks every ready gateway
replica (the gateway Service's Endpoints) which route it has loaded for the shop. Here the
route ConfigMap reaches the gateway's file only when the test lets it (a slow kubelet)."""

from __future__ import annotations

from tests.operator.conftest import Operator, RouteProjection, eventually
from tests.operator.shops import admin_secret, shop
from tests.operator.test_shared_tier import condition, httpx_client
from tests.support.cluster.apiserver import ApiServer


def routes_ready(api: ApiServer, status: str, reason: str) -> dict | None:
    found = condition(api, "acme", "RoutesReady")
    return found if found and (found["status"], found["reason"]) == (status, reason) else None


async def test_routes_are_ready_only_once_the_gateway_serves_them(
    api: ApiServer,
    operator: Operator,
    platform_server,
    platform_token: str,
    routes_projection: RouteProjection,
) -> None:
    _, url = platform_server
    operator.use_platform(url, platform_token)
    routes_projection.paused = True
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme"))
    async with operator.running(), httpx_client(url) as http:
        waiting = await eventually(lambda: routes_ready(api, "False", "RouteNotLoaded"))
        assert "1 of 1 gateway replica(s)" in waiting["message"]
        assert "no route" in waiting["message"]
        ready = condition(api, "acme", "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "RouteNotLoaded")
        assert (await http.get("/shops/acme/api/v1/products")).status_code == 404

        routes_projection.paused = False  # the kubelet's sync comes
        await eventually(lambda: routes_ready(api, "True", "RouteServed"))
        # Ready when served: the shop answers at once.
        assert condition(api, "acme", "Ready")["status"] == "True"
        assert (await http.get("/shops/acme/api/v1/products")).status_code == 200

        # A changed route (suspended) is not ready while the gateway serves the old one.
        routes_projection.paused = True
        await api.apply(shop("acme", suspended=True))
        older = await eventually(lambda: routes_ready(api, "False", "RouteNotLoaded"))
        assert "an older route" in older["message"]
        assert (await http.get("/shops/acme/api/v1/products")).status_code == 200
        routes_projection.paused = False
        await eventually(lambda: routes_ready(api, "True", "RouteServed"))
        assert (await http.get("/shops/acme/api/v1/products")).status_code == 503
