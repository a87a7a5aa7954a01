"""The Shop's promises on its data: quotas reach the services, usage reaches the status, and
`deletionPolicy: Delete` deletes the shop's rows in every service before the Shop goes
(`Retain` keeps them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from shopfleet.kit.tenant_data import PURGE_ORDER
from tests.operator.conftest import (
    PLATFORM_NS,
    Operator,
    RouteProjection,
    eventually,
    serving_platform,
)
from tests.operator.shops import ADMIN_PASSWORD, admin_secret, shop
from tests.operator.test_shared_tier import SHOPS, condition, routes
from tests.support.cluster.apiserver import ApiServer
from tests.support.tenant_rows import rows_of_shop

FAILING_SERVICE = "orders"


def failing_purges(failures: dict[str, int]) -> Any:
    """Around the platform: the first `failures[service]` purges of that service answer 503."""

    def wrap(app: Any) -> Any:
        async def serve(scope: Any, receive: Any, send: Any) -> None:
            path = scope.get("path", "")
            if scope["type"] == "http" and scope["method"] == "DELETE" and "/data/" in path:
                service = path.rsplit("/", 1)[-1]
                if failures.get(service, 0) > 0:
                    failures[service] -= 1
                    body = b'{"status":503,"detail":"injected: the service is restarting"}'
                    headers = [(b"content-type", b"application/problem+json")]
                    await send({"type": "http.response.start", "status": 503, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            await app(scope, receive, send)

        return serve

    return wrap


def usage(api: ApiServer, name: str) -> dict | None:
    return ((api.obj(SHOPS, PLATFORM_NS, name) or {}).get("status") or {}).get("usage")


async def test_quotas_reach_the_services_usage_the_status_and_delete_purges_every_service(
    api: ApiServer,
    operator: Operator,
    platform_token: str,
    tmp_path: Path,
    routes_projection: RouteProjection,
) -> None:
    failures = {FAILING_SERVICE: 3}
    wrap = failing_purges(failures)
    platform = serving_platform(api, routes_projection, tmp_path / "platform", wrap)
    async with platform as served:
        embedded, url = served
        operator.use_platform(url, platform_token)
        quotas = {"products": 2, "ordersPerDay": 5}
        await api.apply(admin_secret("acme"))
        await api.apply(shop("acme", quotas=quotas, deletionPolicy="Delete"))
        await api.apply(admin_secret("keep"))
        await api.apply(shop("keep"))  # deletionPolicy Retain, the default

        async with operator.running(), httpx.AsyncClient(base_url=url, timeout=30) as http:
            for name in ("acme", "keep"):
                await eventually(
                    lambda n=name: (c := condition(api, n, "Ready")) and c["status"] == "True"
                )
            await eventually(lambda: {"acme", "keep"} <= routes(api).keys())
            routes_projection.sync()
            admin = await admin_of(http, "acme")
            products = "/shops/acme/api/v1/products"
            made = [
                (await http.post(products, json=product(n), headers=admin)).status_code
                for n in range(3)
            ]
            assert made == [201, 201, 409]
            keep_admin = await admin_of(http, "keep")
            kept = await http.post(
                "/shops/keep/api/v1/products", json=product(9), headers=keep_admin
            )
            assert kept.status_code == 201, kept.text

            # The drift timer counts usage against the quotas into the status.
            expected = {"products": {"used": 2, "limit": 2}, "ordersToday": {"used": 0, "limit": 5}}
            await eventually(lambda: usage(api, "acme") == expected)
            assert usage(api, "keep") is None  # no quota, no count

            # A raised quota reaches the services (the tenant is bootstrapped again).
            raised = {"products": 3, "ordersPerDay": 5}
            await api.apply(shop("acme", quotas=raised, deletionPolicy="Delete"))
            await eventually(
                lambda: (usage(api, "acme") or {}).get("products") == {"used": 2, "limit": 3}
            )

            async def one_more() -> bool:
                answer = await http.post(products, json=product(3), headers=admin)
                return answer.status_code == 201

            await eventually(one_more)
            before = await rows_of_shop(embedded, "acme")
            assert all(before[s] > 0 for s in ("catalog", "identity")), before
            keep_before = await rows_of_shop(embedded, "keep")

            # Delete: every service's rows go (identity last), a failure is retried, the
            # Deleting condition says how far it got, and only then the Shop goes.
            await api.remove(SHOPS, PLATFORM_NS, "acme")
            stuck = await eventually(
                lambda: (
                    (c := condition(api, "acme", "Deleting")) and c["reason"] == "PurgeFailed" and c
                )
            )
            done = PURGE_ORDER[: PURGE_ORDER.index(FAILING_SERVICE)]
            assert f"Data deleted in: {', '.join(done)};" in stuck["message"], stuck
            assert f"{FAILING_SERVICE} failed (retrying)" in stuck["message"], stuck
            await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "acme") is None)
            assert failures[FAILING_SERVICE] == 0
            after = await rows_of_shop(embedded, "acme")
            assert set(after.values()) == {0}, after
            reasons = {e["reason"]: e["message"] for e in api.all("v1/events", PLATFORM_NS)}
            assert "identity" in reasons["DataDeleted"], reasons
            assert "acme" not in routes(api)

            # Retain: the Shop goes, its rows stay (charts/README.md: finding and purging them).
            await api.remove(SHOPS, PLATFORM_NS, "keep")
            await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "keep") is None)
            assert await rows_of_shop(embedded, "keep") == keep_before


def product(n: int) -> dict:
    return {"name": f"Widget {n}", "sku": f"W-{n}", "price": {"amount": 1000}, "on_hand": 5}


async def admin_of(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    async def login() -> httpx.Response | None:
        answer = await http.post(
            f"/shops/{name}/api/v1/auth/login",
            json={"email": f"admin@{name}.example.com", "password": ADMIN_PASSWORD},
        )
        return answer if answer.status_code == 200 else None

    answer = await eventually(login)
    return {"authorization": f"Bearer {answer.json()['access_token']}"}
