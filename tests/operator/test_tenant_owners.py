"""A tenant kept by `deletionPolicy: Retain` stays its namespace's: a Shop of the same name
applied later in another namespace gets nothing of it (Ready=False `TenantOwned`, no route),
its deletion deletes nothing of it, the Shop re-created in its own namespace takes it back,
and once purged the name starts afresh for anyone."""

from __future__ import annotations

import httpx

from shopfleet.purge import purge_shop
from tests.operator.conftest import Operator, RouteProjection, eventually
from tests.operator.shops import ADMIN_PASSWORD, admin_secret, shop
from tests.operator.test_shared_tier import SHOPS, condition, routes
from tests.operator.test_tenant_data import admin_of, product
from tests.support.cluster.apiserver import ApiServer
from tests.support.tenant_rows import rows_of_shop

PRODUCTS = "/shops/acme/api/v1/products"


def other_teams_shop() -> dict:
    """The same name in namespace b, another team's hosts and admin; it would delete its data."""
    return shop(
        "acme",
        "b",
        hosts=["acme.other-team.example"],
        deletionPolicy="Delete",
        admin={
            "email": "admin@other-team.example",
            "passwordSecretRef": {"name": "acme-admin", "key": "password"},
        },
    )


def ready_reason(api: ApiServer, ns: str, reason: str):
    def check() -> dict | None:
        found = condition(api, "acme", "Ready", ns)
        return found if found and found["reason"] == reason else None

    return check


def events(api: ApiServer, ns: str, reason: str) -> list[dict]:
    return [e for e in api.all("v1/events", ns) if e["reason"] == reason]


async def test_a_retained_tenant_stays_its_namespaces_until_purged(
    api: ApiServer,
    operator: Operator,
    platform_server,
    platform_token: str,
    routes_projection: RouteProjection,
) -> None:
    embedded, url = platform_server
    operator.use_platform(url, platform_token)
    for ns in ("a", "b"):
        await api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await api.apply(admin_secret("acme", ns))

    async def gone(ns: str) -> None:
        await api.remove(SHOPS, ns, "acme")
        await eventually(lambda: api.obj(SHOPS, ns, "acme") is None)

    async with operator.running(), httpx.AsyncClient(base_url=url, timeout=30) as http:
        # Team a's shop, with a product; deleted with Retain (the default).
        await api.apply(shop("acme", "a"))
        await eventually(ready_reason(api, "a", "ShopReady"))
        routes_projection.sync()
        made = await http.post(PRODUCTS, json=product(1), headers=await admin_of(http, "acme"))
        assert made.status_code == 201, made.text
        await gone("a")
        kept = await rows_of_shop(embedded, "acme")
        assert kept["catalog"] > 0 and kept["identity"] > 0, kept

        # Team b applies a Shop of the name: refused a's tenant, and no route to it.
        await api.apply(other_teams_shop())
        refused = await eventually(ready_reason(api, "b", "TenantOwned"), timeout=30)
        assert refused["status"] == "False"
        assert "namespace 'a'" in refused["message"], refused
        assert "shopfleet shops purge acme" in refused["message"], refused
        assert condition(api, "acme", "RoutesReady", "b")["reason"] == "TenantOwned"
        assert "acme" not in routes(api)
        assert "url" not in api.obj(SHOPS, "b", "acme")["status"]
        # Said once, not on every drift check (one a second here).
        await eventually(lambda: len(events(api, "b", "TenantOwned")) == 1)
        before = api.count
        await eventually(lambda: api.count > before + 20)
        assert len(events(api, "b", "TenantOwned")) == 1
        # Its deletion (deletionPolicy: Delete) deletes nothing of a's.
        await gone("b")
        assert await rows_of_shop(embedded, "acme") == kept
        assert events(api, "b", "DataKept"), api.all("v1/events", "b")

        # Team a re-creates its Shop: it takes its tenant back, customers and products.
        await api.apply(shop("acme", "a"))
        await eventually(ready_reason(api, "a", "ShopReady"))
        assert await eventually(lambda: events(api, "a", "TenantAdopted"))
        routes_projection.sync()
        listed = await http.get(PRODUCTS)
        assert [p["name"] for p in listed.json()["items"]] == ["Widget 1"], listed.text
        await gone("a")

        # Purged (the README's way), the name starts afresh for team b.
        routes_projection.sync()
        deleted = await purge_shop(url, platform_token, "acme")
        assert deleted["identity"], deleted
        await api.apply(other_teams_shop())
        await eventually(ready_reason(api, "b", "ShopReady"), timeout=30)
        routes_projection.sync()

        async def signs_in() -> bool:
            login = await http.post(
                "/shops/acme/api/v1/auth/login",
                json={"email": "admin@other-team.example", "password": ADMIN_PASSWORD},
            )
            return login.status_code == 200

        await eventually(signs_in)  # the gateway reloads its routes file when it changes
        assert (await http.get(PRODUCTS)).json()["items"] == []
