"""A shared-tier shop: routes, secrets, Dapr scoping, ingresses, status, deletion."""

from __future__ import annotations

import orjson

from tests.operator.conftest import PLATFORM_NS, Operator, RouteProjection, eventually
from tests.operator.shops import admin_secret, shop
from tests.support.cluster.apiserver import ApiServer

SHOPS = "shopfleet.io/v1alpha1/shops"


def condition(api: ApiServer, name: str, type_: str, ns: str = PLATFORM_NS) -> dict | None:
    obj = api.obj(SHOPS, ns, name) or {}
    found = [c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == type_]
    return found[0] if found else None


def routes(api: ApiServer) -> dict:
    cm = api.obj("v1/configmaps", PLATFORM_NS, "shopfleet-routes")
    return orjson.loads(cm["data"]["routes.json"])["shops"] if cm else {}


async def test_without_a_platform_the_shop_says_why_it_is_not_ready(
    api: ApiServer, operator: Operator
) -> None:
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme"))
    async with operator.running():
        ready = await eventually(lambda: condition(api, "acme", "Ready"))
        assert ready["status"] == "False"
        assert ready["reason"] == "PlatformNotConfigured"
        assert "SHOPFLEET_PLATFORM_URL" in ready["message"]
        assert routes(api)["acme"]["hosts"] == ["acme.example.com"]
        assert api.obj("networking.k8s.io/v1/ingresses", PLATFORM_NS, "shop-acme-acme.example.com")
        # No gateway to ask whether it serves the route: not claimed to be served.
        routes_ready = condition(api, "acme", "RoutesReady")
        assert (routes_ready["status"], routes_ready["reason"]) == ("False", "RouteNotLoaded")


async def test_a_shop_becomes_ready_and_serves_shoppers_through_the_gateway(
    api: ApiServer,
    operator: Operator,
    platform_server,
    platform_token: str,
    routes_projection: RouteProjection,
    tmp_path,
) -> None:
    _, url = platform_server
    operator.use_platform(url, platform_token)
    await api.apply(admin_secret("acme"))
    await api.apply(shop("acme", quotas={"requestsPerMinute": 600}))

    async with operator.running(), httpx_client(url) as http:
        ready = await eventually(
            lambda: (c := condition(api, "acme", "Ready")) and c["status"] == "True" and c
        )
        assert ready["reason"] == "ShopReady"
        status = api.obj(SHOPS, PLATFORM_NS, "acme")["status"]
        assert status["url"] == "http://acme.example.com/api/v1"  # no TLS configured
        assert status["observedGeneration"] == 1
        assert {c["type"] for c in status["conditions"]} == {
            "Ready",
            "RoutesReady",
            "StorageReady",
            "PaymentsReady",
            "Degraded",
        }
        steps = {"ChildrenReconciled", "RouteUpdated", "TenantBootstrapped", "ShopReady"}
        await eventually(lambda: steps <= {e["reason"] for e in api.all("v1/events", PLATFORM_NS)})

        # The gateway picks the new route up without a restart.
        routes_projection.sync()
        api_base = "/shops/acme/api/v1"

        async def listed() -> bool:
            return (await http.get(f"{api_base}/products")).status_code == 200

        await eventually(listed)
        registered = await http.post(
            f"{api_base}/auth/register",
            json={"email": "ann@example.com", "password": "a long password", "display_name": "Ann"},
        )
        assert registered.status_code == 201, registered.text
        admin = await http.post(
            f"{api_base}/auth/login",
            json={"email": "admin@acme.example.com", "password": "admin password 42"},
        )
        assert admin.status_code == 200, admin.text
        by_host = await http.get("/api/v1/products", headers={"host": "acme.example.com"})
        assert by_host.status_code == 200

        # Suspended: the route says so and the gateway answers 503.
        await api.apply(shop("acme", suspended=True, suspendedMessage="Back on Monday."))
        await eventually(lambda: routes(api)["acme"]["suspended"])
        ready = await eventually(
            lambda: (c := condition(api, "acme", "Ready")) and c["reason"] == "Suspended" and c
        )
        assert ready["observedGeneration"] == 2
        routes_projection.sync()

        async def closed() -> bool:
            return (await http.get(f"{api_base}/products")).status_code == 503

        await eventually(closed)
        answer = await http.get(f"{api_base}/products")
        assert "Back on Monday." in answer.text

        # Deleted: the route, the ingress, the secret and the component go; the shop is 404.
        await api.remove(SHOPS, PLATFORM_NS, "acme")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "acme") is None)
        assert "acme" not in routes(api)
        leftovers = [
            o["metadata"]["name"]
            for kind in (
                "networking.k8s.io/v1/ingresses",
                "v1/secrets",
                "dapr.io/v1alpha1/components",
            )
            for o in api.all(kind)
            if (o["metadata"].get("labels") or {}).get("shopfleet.io/shop") == "acme"
        ]
        assert leftovers == []
        routes_projection.sync()

        async def gone() -> bool:
            return (await http.get(f"{api_base}/products")).status_code == 404

        await eventually(gone)


def httpx_client(url: str):
    import httpx

    return httpx.AsyncClient(base_url=url, timeout=30)
