"""Shoppers and a shop admin of the demo shop, through the gateway, for the checkout attacks.

Nothing here reaches behind the public API: products are made by the demo admin, carts,
addresses, orders and payments by freshly registered shoppers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.security.conftest import API, Target

GOOD_CARD = "pm_card_visa"
ADDRESS = {
    "name": "Mallory",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}


@dataclass
class Actor:
    http: httpx.AsyncClient
    headers: dict[str, str]

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = self.headers | kw.pop("headers", {})
        return await self.http.request(method, API + path, headers=headers, **kw)

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        answer = await self.call(method, path, **kw)
        assert answer.status_code == expect, f"{method} {path}: {answer.text}"
        return answer.json() if answer.content else None


async def _signed_in(http: httpx.AsyncClient, email: str, password: str) -> Actor:
    tokens = await http.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    return Actor(http, {"authorization": f"Bearer {tokens.json()['access_token']}"})


async def new_shopper(http: httpx.AsyncClient) -> Actor:
    email = f"mallory-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": "a long password", "display_name": "Mallory"}
    registered = await http.post(f"{API}/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    return await _signed_in(http, email, "a long password")


async def shop_admin(target: Target, http: httpx.AsyncClient) -> Actor:
    return await _signed_in(http, target.demo.admin_email, target.demo.admin_password)


async def new_product(admin: Actor, *, price: int = 1000, stock: int = 10) -> str:
    n = uuid.uuid4().hex[:8]
    body = {"name": f"Bait {n}", "sku": f"BAIT-{n}", "price": {"amount": price}, "on_hand": stock}
    return str((await admin.ok("POST", "/products", 201, json=body))["id"])


async def available(who: Actor, product_id: str) -> int:
    return int((await who.ok("GET", f"/products/{product_id}"))["available"])


async def add_to_cart(shopper: Actor, product_id: str, quantity: int = 1) -> None:
    body = {"product_id": product_id, "quantity": quantity}
    answer = await shopper.call("POST", "/cart/items", json=body)
    assert answer.status_code in (200, 201), answer.text


async def order_body(shopper: Actor, method: str = "standard") -> dict[str, str]:
    address = await shopper.ok("POST", "/shipping/addresses", 201, json=ADDRESS)
    return {"shipping_method": method, "shipping_address_id": address["id"]}


async def place(shopper: Actor, body: dict[str, str]) -> httpx.Response:
    return await shopper.call(
        "POST", "/orders", json=body, headers={"idempotency-key": str(uuid.uuid4())}
    )


async def pay(shopper: Actor, order_id: str) -> dict[str, Any]:
    """The order's payment, created (not yet confirmed)."""
    body = {"order_id": order_id, "payment_method": GOOD_CARD}
    return await shopper.ok("POST", "/payments/intents", 201, json=body)  # type: ignore[no-any-return]


async def unpaid_order(target: Target, client: httpx.AsyncClient) -> tuple[Actor, Actor, dict]:
    """The shop admin, a shopper and the shopper's order (2 × 25.00 EUR), unpaid."""
    admin, shopper = await shop_admin(target, client), await new_shopper(client)
    await add_to_cart(shopper, await new_product(admin, price=2500, stock=10), 2)
    placed = await place(shopper, await order_body(shopper))
    assert placed.status_code == 201, placed.text
    return admin, shopper, placed.json()


async def paid_order(target: Target, client: httpx.AsyncClient) -> tuple[Actor, dict, dict]:
    """The shop admin, a paid order and its payment (confirmed with a good card)."""
    admin, shopper, order = await unpaid_order(target, client)
    body = {"order_id": order["id"], "payment_method": GOOD_CARD}
    payment = await shopper.ok("POST", "/payments/intents", 201, json=body)
    confirmed = await shopper.ok("POST", f"/payments/{payment['id']}/confirm")
    assert confirmed["status"] == "succeeded", confirmed
    return admin, order, confirmed


async def eventually(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout_s: float = 30.0
) -> Any:
    """Poll `probe` until `check` holds (events and webhooks are asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if check(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)
