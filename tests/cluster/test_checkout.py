"""A shopper's whole checkout on the cluster, by the shop's host through the ingress:
register, cart, order, payment through the Stripe emulator with its signed webhook,
shipment, notifications. Every hop is a pod: ingress → gateway → sidecars → services,
events over RabbitMQ, state in Redis, rows in PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import Platform, eventually, example
from tests.cluster.test_shop_journey import admin_password, apply, login, wait_ready

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(1800),
    pytest.mark.asyncio(loop_scope="session"),
]
API = "/api/v1"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}


class User:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, expect: int | None = 200, **kw: Any) -> Any:
        headers = self.headers | kw.pop("headers", {})
        answer = await self.http.request(method, API + path, headers=headers, **kw)
        if expect is None:
            return answer
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    async def poll(self, path: str) -> Any:
        """GET for a poll: None while the service is unavailable (a restarting pod answers
        503 "retry shortly", and a shopper's page retries)."""
        answer = await self.http.get(API + path, headers=self.headers)
        if answer.status_code == 503:
            return None
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text}"
        return answer.json()


async def checkout(
    platform: Platform,
    documents: list[dict[str, Any]],
    after_confirm: Callable[[], Awaitable[None]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A shopper's whole checkout on the shop of `documents`, by its host: (order, payment).
    `after_confirm` runs once the payment is confirmed, before the webhook's effects are
    awaited (e.g. to kill a service); every effect must still happen exactly once."""
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    async with platform.client(shop["spec"]["hosts"][0]) as http:
        await eventually(
            lambda: _status(http, f"{API}/products", 200), "the shop by its host", platform=platform
        )
        admin = User(
            http, await login(http, API, shop["spec"]["admin"]["email"], admin_password(documents))
        )
        product = await admin.call(
            "POST",
            "/products",
            201,
            json={"name": "Teapot", "sku": "TEA-01", "price": {"amount": 2500}, "on_hand": 10},
        )
        await admin.call(
            "POST",
            "/shipping/methods",
            201,
            json={"id": "standard", "name": "Standard", "carrier": "DHL", "base_amount": 490},
        )
        email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
        registered = await http.post(
            f"{API}/auth/register",
            json={"email": email, "password": "a long password", "display_name": "Ada"},
        )
        assert registered.status_code == 201, registered.text
        shopper = User(http, await login(http, API, email, "a long password"))

        # The product reaches cart's view of the catalog by an event; adding waits for it.
        async def added() -> bool:
            answer = await shopper.call(
                "POST", "/cart/items", None, json={"product_id": product["id"], "quantity": 2}
            )
            return answer.status_code in (200, 201)

        await eventually(added, "the product in the cart", platform=platform)
        address = await shopper.call("POST", "/shipping/addresses", 201, json=ADDRESS)
        order = await shopper.call(
            "POST",
            "/orders",
            201,
            json={"shipping_method": "standard", "shipping_address_id": address["id"]},
            headers={"idempotency-key": str(uuid.uuid4())},
        )
        assert order["status"] == "pending_payment"
        assert order["total"]["amount"] == order["subtotal"]["amount"] + order["shipping"]["amount"]

        payment = await shopper.call(
            "POST",
            "/payments/intents",
            201,
            json={"order_id": order["id"], "payment_method": "pm_card_visa"},
        )
        confirmed = await shopper.call("POST", f"/payments/{payment['id']}/confirm")
        assert confirmed["status"] == "succeeded", confirmed
        if after_confirm is not None:
            await after_confirm()

        # Paid by the emulator's signed webhook (emulator pod → gateway → payments), then
        # a shipment and notifications by events.
        async def order_status() -> str | None:
            found = await shopper.poll(f"/orders/{order['id']}")
            if found and found["status"] in ("fulfilling", "shipped"):
                return str(found["status"])
            return None

        await eventually(order_status, "the order paid and fulfilling", platform=platform)
        shipments = await eventually(
            lambda: _items(shopper, "/shipments"), "the order's shipment", platform=platform
        )
        assert [s["order_id"] for s in shipments] == [order["id"]]
        notices = await eventually(
            lambda: _kinds(shopper, {"order_placed", "order_paid"}),
            "the shopper's notifications",
            platform=platform,
        )
        assert {"order_placed", "order_paid"} <= notices
        sent = [n["kind"] for n in (await shopper.call("GET", "/notifications"))["items"]]
        assert len(sent) == len(set(sent)), f"a notification sent twice: {sent}"
        payments = (await eventually(lambda: shopper.poll("/payments"), "the payments"))["items"]
        assert [p["id"] for p in payments] == [payment["id"]]
        shipped = await admin.call(
            "PATCH",
            f"/shipments/{shipments[0]['id']}",
            json={"status": "shipped", "carrier": "DHL", "tracking_number": "JD014600006281230704"},
        )
        assert shipped["status"] == "shipped"
        final = await eventually(
            lambda: _order_in(shopper, order["id"], "shipped"),
            "the order shipped",
            platform=platform,
        )
        assert [h["status"] for h in final["history"]] == [
            "pending_payment",
            "paid",
            "fulfilling",
            "shipped",
        ]
        stock = await shopper.call("GET", f"/products/{product['id']}")
        assert stock["available"] == 8  # committed once, not released, not twice
        return final, confirmed


async def test_a_shopper_checks_out_on_a_shared_shop(platform: Platform, slug: str) -> None:
    documents = example("shop.yaml", slug=slug)
    await apply(platform, documents)
    await wait_ready(platform, slug)
    await checkout(platform, documents)


async def _status(http: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await http.get(path)).status_code == status


async def _items(user: User, path: str) -> list[dict[str, Any]] | None:
    found = await user.poll(path)
    return found["items"] if found and found["items"] else None


async def _kinds(user: User, wanted: set[str]) -> set[str] | None:
    found = await user.poll("/notifications")
    kinds = {n["kind"] for n in (found or {"items": []})["items"]}
    return kinds if wanted <= kinds else None


async def _order_in(user: User, order_id: str, status: str) -> dict[str, Any] | None:
    found = await user.poll(f"/orders/{order_id}")
    return found if found and found["status"] == status else None
