"""What a Shop's spec promises, through the gateway: quotas and the deletion of its data.

The platform's internal API is called as the operator calls it (the platform credential):
`POST /internal/tenants` carries the quotas, `GET /internal/tenants/{shop}/usage` counts
against them, `DELETE /internal/tenants/{shop}/data/{service}` purges one service.
Every test here also runs on the multi-process platform (tests/e2e/multiprocess).
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from shopfleet.dev.multiprocess import MultiProcessPlatform
from shopfleet.kit.tenant_data import PURGE_ORDER
from shopfleet.platform import EmbeddedPlatform
from shopfleet.shipping.demo import seed_default_methods
from tests.e2e.test_shop_journey import png
from tests.support.multiprocess import eventually
from tests.support.platform import PLATFORM_TOKEN
from tests.support.problems import assert_problem
from tests.support.tenant_rows import rows_of_shop

PLATFORM = {"authorization": f"Bearer {PLATFORM_TOKEN}"}
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}
Platform = EmbeddedPlatform | MultiProcessPlatform
# The embedded platform on SQLite and on the cluster's stores (PostgreSQL, Redis).
on_both_stores = pytest.mark.parametrize("platform", ["sqlite", "postgresql+redis"], indirect=True)


async def bootstrap(
    http: httpx.AsyncClient, shop: str, quotas: dict, *, email: str, password: str
) -> httpx.Response:
    body = {
        "shop": shop,
        "display_name": shop.title(),
        "currency": "EUR",
        "admin_email": email,
        "admin_password": password,
        "quotas": quotas,
    }
    answer = await http.post("/internal/tenants", json=body, headers=PLATFORM)
    assert answer.status_code in (200, 201), answer.text
    return answer


async def new_shop(http: httpx.AsyncClient, prefix: str, quotas: dict) -> tuple[str, dict]:
    """A fresh shop and its admin's headers."""
    shop = f"{prefix}-{uuid.uuid4().hex[:6]}"
    email, password = f"admin@{shop}.example.com", "an admin password"
    await bootstrap(http, shop, quotas, email=email, password=password)
    route = {"hosts": [f"{shop}.test"]}  # as the operator registers a shop's route
    assert (await http.put(f"/internal/routes/{shop}", json=route, headers=PLATFORM)).is_success
    return shop, await signed_in(http, shop, email, password)


async def signed_in(http: httpx.AsyncClient, shop: str, email: str, password: str) -> dict:
    login = await http.post(
        f"/shops/{shop}/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert login.status_code == 200, login.text
    return {"authorization": f"Bearer {login.json()['access_token']}"}


async def new_shopper(http: httpx.AsyncClient, shop: str) -> dict:
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post(
        f"/shops/{shop}/api/v1/auth/register",
        json={"email": email, "password": "a long password", "display_name": "Ada"},
    )
    assert registered.status_code == 201, registered.text
    return await signed_in(http, shop, email, "a long password")


async def usage(http: httpx.AsyncClient, shop: str) -> dict:
    answer = await http.get(f"/internal/tenants/{shop}/usage", headers=PLATFORM)
    assert answer.status_code == 200, answer.text
    return answer.json()


def product(n: int) -> dict:
    return {"name": f"Widget {n}", "sku": f"W-{n}", "price": {"amount": 1000}, "on_hand": 50}


@on_both_stores
async def test_a_products_quota_holds_under_a_burst(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    shop, admin = await new_shop(client, "quota", {"products": 3})
    api = f"/shops/{shop}/api/v1"
    burst = await asyncio.gather(
        *(client.post(f"{api}/products", json=product(n), headers=admin) for n in range(8))
    )
    created = [a for a in burst if a.status_code == 201]
    refused = [a for a in burst if a.status_code != 201]
    assert len(created) == 3, [a.text for a in burst]
    for answer in refused:
        body = assert_problem(answer, 409)
        assert body["type"].endswith("/quota-exceeded"), body
        assert (body["quota"], body["limit"], body["used"]) == ("products", 3, 3), body
        assert "quotas.products" in body["detail"]
    assert (await usage(client, shop))["products"] == {"used": 3, "limit": 3}

    # Deleted products do not count; a raised quota holds once the services read it.
    gone = await client.delete(f"{api}/products/{created[0].json()['id']}", headers=admin)
    assert gone.status_code == 204, gone.text
    again = await client.post(f"{api}/products", json=product(100), headers=admin)
    assert again.status_code == 201, again.text
    await bootstrap(
        client, shop, {"products": 5}, email=f"admin@{shop}.example.com", password="ignored pw 1"
    )
    await eventually(lambda: usage(client, shop), lambda u: u["products"]["limit"] == 5)
    more = [
        (await client.post(f"{api}/products", json=product(n), headers=admin)).status_code
        for n in (101, 102, 103)
    ]
    assert more == [201, 201, 409]


@on_both_stores
async def test_an_orders_per_day_quota_holds_under_a_burst(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    assert platform.demo is not None
    demo = platform.demo
    api = "/shops/demo/api/v1"
    shoppers = [await new_shopper(client, "demo") for _ in range(5)]
    page = (await client.get(f"{api}/products", params={"in_stock": "true", "limit": 1})).json()
    item = page["items"][0]["id"]
    bodies = []
    for headers in shoppers:
        cart = await client.post(
            f"{api}/cart/items", json={"product_id": item, "quantity": 1}, headers=headers
        )
        assert cart.status_code in (200, 201), cart.text
        address = await client.post(f"{api}/shipping/addresses", json=ADDRESS, headers=headers)
        assert address.status_code == 201, address.text
        bodies.append({"shipping_method": "standard", "shipping_address_id": address.json()["id"]})

    used = (await usage(client, "demo"))["orders_today"]["used"]
    limit = used + 2
    quota = {"orders_per_day": limit}
    await bootstrap(client, "demo", quota, email=demo.admin_email, password=demo.admin_password)
    try:
        await eventually(
            lambda: usage(client, "demo"), lambda u: u["orders_today"]["limit"] == limit
        )
        burst = await asyncio.gather(
            *(
                client.post(f"{api}/orders", json=body, headers=headers)
                for body, headers in zip(bodies, shoppers, strict=True)
            )
        )
        assert sorted(a.status_code for a in burst) == [201, 201, 429, 429, 429], [
            a.text for a in burst
        ]
        for answer in (a for a in burst if a.status_code == 429):
            body = assert_problem(answer, 429)
            assert body["type"].endswith("/quota-exceeded"), body
            assert (body["quota"], body["limit"], body["used"]) == ("ordersPerDay", limit, limit)
            assert "UTC" in body["detail"] and "quotas.ordersPerDay" in body["detail"]
            assert 0 < int(answer.headers["retry-after"]) <= 86400
        assert (await usage(client, "demo"))["orders_today"] == {"used": limit, "limit": limit}
    finally:  # the demo shop is shared (the multi-process platform): no quota again
        await bootstrap(client, "demo", {}, email=demo.admin_email, password=demo.admin_password)
        await eventually(
            lambda: usage(client, "demo"), lambda u: u["orders_today"]["limit"] is None
        )


async def purge(http: httpx.AsyncClient, shop: str) -> dict[str, dict]:
    deleted = {}
    for service in PURGE_ORDER:
        answer = await http.delete(f"/internal/tenants/{shop}/data/{service}", headers=PLATFORM)
        assert answer.status_code == 200, f"{service}: {answer.text}"
        deleted[service] = answer.json()["deleted"]
    return deleted


@on_both_stores
async def test_purging_a_shop_deletes_its_rows_in_every_service(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    shop, admin = await new_shop(client, "purge", {})
    api = f"/shops/{shop}/api/v1"
    assert await seed_default_methods(client, api, admin)
    category = await client.post(f"{api}/categories", json={"name": "Bikes"}, headers=admin)
    assert category.status_code == 201, category.text
    made = await client.post(f"{api}/products", json=product(1), headers=admin)
    assert made.status_code == 201, made.text
    item = made.json()["id"]
    image = await client.post(
        f"{api}/products/{item}/images",
        headers=admin,
        files={"file": ("bike.png", png(), "image/png")},
    )
    assert image.status_code == 201, image.text
    shopper = await new_shopper(client, shop)
    await client.post(
        f"{api}/cart/items", json={"product_id": item, "quantity": 1}, headers=shopper
    )
    address = await client.post(f"{api}/shipping/addresses", json=ADDRESS, headers=shopper)
    order = await client.post(
        f"{api}/orders",
        headers=shopper,
        json={"shipping_method": "standard", "shipping_address_id": address.json()["id"]},
    )
    assert order.status_code == 201, order.text
    kept = ("catalog", "categories", "identity", "orders", "shipping", "notifications")
    before = await eventually(
        lambda: rows_of_shop(platform, shop), lambda rows: all(rows[s] > 0 for s in kept)
    )
    demo_before = await rows_of_shop(platform, "demo")

    deleted = await purge(client, shop)
    print(f"rows deleted by service: {before}")  # shown by -rP: the report's numbers
    assert {s: sum(d.values()) for s, d in deleted.items() if d} == {
        s: n for s, n in before.items() if n
    }
    after = await rows_of_shop(platform, shop)
    assert set(after.values()) == {0}, after
    demo_after = await rows_of_shop(platform, "demo")  # another shop keeps all it had
    assert all(demo_after[s] >= n for s, n in demo_before.items()), (demo_before, demo_after)
    assert (await client.get(image.json()["url"])).status_code == 404
    # Idempotent: nothing is left to delete, and every service says so.
    assert await purge(client, shop) == {service: {} for service in PURGE_ORDER}
    gone = await client.get(f"/internal/tenants/{shop}", headers=PLATFORM)
    assert gone.status_code == 404

    # The name is free again: a new shop of that name starts empty, in its own currency.
    email, password = f"new@{shop}.example.com", "another admin password"
    body = {
        "shop": shop,
        "display_name": "Reborn",
        "currency": "USD",
        "admin_email": email,
        "admin_password": password,
    }
    assert (await client.post("/internal/tenants", json=body, headers=PLATFORM)).status_code == 201
    admin = await signed_in(client, shop, email, password)
    assert (await client.get(f"{api}/products", headers=admin)).json()["items"] == []
    reborn = await client.post(f"{api}/products", json=product(2), headers=admin)
    assert reborn.status_code == 201, reborn.text
    assert reborn.json()["price"]["currency"] == "USD"
