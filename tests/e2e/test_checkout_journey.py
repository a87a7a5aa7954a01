"""The checkout saga through the gateway, with the Stripe emulator's signed webhooks.

The embedded platform is served on a loopback port (tests.support.server) so that the
Stripe emulator, a separate process, can post its webhooks to the gateway as Stripe would.
Shoppers and the demo admin use nothing but the public API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopfleet.platform import EmbeddedPlatform
from tests.support.platform import make_platform
from tests.support.problems import assert_problem
from tests.support.server import free_port, serving

API = "/shops/demo/api/v1"
GOOD_CARD = "pm_card_visa"
DECLINED_CARD = "pm_card_visa_chargeDeclined"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}


async def eventually(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout_s: float = 20.0
) -> Any:
    """Poll `probe` until `check` holds on its answer (events and webhooks are async)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s; last: {value}")
        await asyncio.sleep(0.05)


@dataclass
class Client:
    """One signed-in user of the demo shop."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    user_id: str

    async def call(self, method: str, path: str, expect: int | None = 200, **kw: Any) -> Any:
        answer = await self.http.request(
            method, API + path, headers=self.headers | kw.pop("headers", {}), **kw
        )
        if expect is not None:
            assert answer.status_code == expect, f"{method} {path}: {answer.text}"
            return answer.json() if answer.content else None
        return answer

    async def order(self, order_id: str) -> dict:
        return await self.call("GET", f"/orders/{order_id}")

    async def until_status(self, order_id: str, *statuses: str) -> dict:
        return await eventually(lambda: self.order(order_id), lambda o: o["status"] in statuses)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedPlatform, httpx.AsyncClient]]:
    port = free_port()
    platform = make_platform(tmp_path / "data", public_url=f"http://127.0.0.1:{port}")
    async with (
        serving(platform, port) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,  # a loaded CI machine is slow
    ):
        yield platform, http


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> Client:
    tokens = await http.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    headers = {"authorization": f"Bearer {tokens.json()['access_token']}"}
    me = (await http.get(f"{API}/users/me", headers=headers)).json()
    return Client(http, headers, me["id"])


async def new_shopper(http: httpx.AsyncClient) -> Client:
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post(
        f"{API}/auth/register",
        json={"email": email, "password": "a long password", "display_name": "Ada"},
    )
    assert registered.status_code == 201, registered.text
    return await sign_in(http, email, "a long password")


async def admin_of(platform: EmbeddedPlatform, http: httpx.AsyncClient) -> Client:
    assert platform.demo is not None
    return await sign_in(http, platform.demo.admin_email, platform.demo.admin_password)


async def a_product(shopper: Client) -> dict:
    page = await shopper.call("GET", "/products", params={"in_stock": "true", "limit": 5})
    return page["items"][0]


async def available(shopper: Client, product_id: str) -> int:
    return (await shopper.call("GET", f"/products/{product_id}"))["available"]


async def place_order(shopper: Client, product_id: str, quantity: int = 2) -> dict:
    await shopper.call(
        "POST", "/cart/items", expect=None, json={"product_id": product_id, "quantity": quantity}
    )
    address = await shopper.call("POST", "/shipping/addresses", expect=201, json=ADDRESS)
    return await shopper.call(
        "POST",
        "/orders",
        expect=201,
        json={"shipping_method": "standard", "shipping_address_id": address["id"]},
    )


async def pay(shopper: Client, order_id: str, card: str = GOOD_CARD) -> tuple[dict, Any]:
    payment = await shopper.call(
        "POST", "/payments/intents", expect=201, json={"order_id": order_id, "payment_method": card}
    )
    confirmed = await shopper.call("POST", f"/payments/{payment['id']}/confirm", expect=None)
    return payment, confirmed


async def test_a_shopper_checks_out_and_the_admin_ships(
    served: tuple[EmbeddedPlatform, httpx.AsyncClient],
) -> None:
    platform, http = served
    shopper, admin = await new_shopper(http), await admin_of(platform, http)
    product = await a_product(shopper)
    before = await available(shopper, product["id"])

    await shopper.call(
        "POST", "/cart/items", expect=None, json={"product_id": product["id"], "quantity": 2}
    )
    address = await shopper.call("POST", "/shipping/addresses", expect=201, json=ADDRESS)
    body = {"shipping_method": "standard", "shipping_address_id": address["id"]}
    key = {"idempotency-key": str(uuid.uuid4())}
    order = await shopper.call("POST", "/orders", expect=201, json=body, headers=key)
    retried = await shopper.call("POST", "/orders", expect=None, json=body, headers=key)
    assert retried.status_code in (200, 201) and retried.json()["id"] == order["id"]
    assert order["status"] == "pending_payment"
    assert order["lines"][0]["unit_price"] == product["price"]  # the catalog's, not the client's
    assert order["total"]["amount"] == order["subtotal"]["amount"] + order["shipping"]["amount"]
    assert await available(shopper, product["id"]) == before - 2  # reserved
    await eventually(lambda: shopper.call("GET", "/cart"), lambda cart: not cart["lines"])

    payment, confirmed = await pay(shopper, order["id"])
    assert confirmed.status_code == 200, confirmed.text
    assert payment["amount"] == order["total"]
    intent = {"order_id": order["id"], "payment_method": GOOD_CARD}
    again = await shopper.call("POST", "/payments/intents", expect=None, json=intent)
    assert again.status_code == 200 and again.json()["id"] == payment["id"]  # one charge

    await shopper.until_status(order["id"], "fulfilling")  # paid by the webhook, then shipped
    shipments = await eventually(
        lambda: shopper.call("GET", "/shipments"), lambda page: len(page["items"]) == 1
    )
    shipment = shipments["items"][0]
    assert shipment["order_id"] == order["id"] and shipment["status"] == "pending"
    kinds = await eventually(
        lambda: shopper.call("GET", "/notifications"),
        lambda page: {"order_placed", "order_paid"} <= {n["kind"] for n in page["items"]},
    )
    assert len(kinds["items"]) == len({n["kind"] for n in kinds["items"]})  # one per event

    shipped = await admin.call(
        "PATCH",
        f"/shipments/{shipment['id']}",
        json={
            "status": "shipped",
            "carrier": "DHL",
            "tracking_number": "JD014600006281230704",
        },
    )
    assert shipped["status"] == "shipped"
    final = await shopper.until_status(order["id"], "shipped")
    assert [h["status"] for h in final["history"]] == [
        "pending_payment",
        "paid",
        "fulfilling",
        "shipped",
    ]
    assert all(h["at"] and h["cause"] for h in final["history"])
    assert await available(shopper, product["id"]) == before - 2  # committed, not released
    settled = await shopper.call("GET", f"/payments/{payment['id']}")
    assert settled["status"] == "succeeded" and settled["captured"] == order["total"]


async def test_a_late_duplicate_order_meets_the_order_that_emptied_the_cart(
    served: tuple[EmbeddedPlatform, httpx.AsyncClient],
) -> None:
    """A retried POST /orders (no Idempotency-Key, or a new one) that arrives after its
    first attempt's order emptied the cart is told about that order (409 naming it), as it
    would have been before the cart emptied; once that order is paid, the cart is empty."""
    _, http = served
    shopper = await new_shopper(http)
    product = await a_product(shopper)
    before = await available(shopper, product["id"])
    order = await place_order(shopper, product["id"], 2)
    await eventually(lambda: shopper.call("GET", "/cart"), lambda cart: not cart["lines"])
    body = {"shipping_method": "standard", "shipping_address": ADDRESS}

    late = await shopper.call("POST", "/orders", expect=None, json=body)

    problem = assert_problem(late, 409)
    assert problem["type"].endswith("/cart-already-ordered"), problem
    assert problem["order_id"] == order["id"] and order["id"] in problem["detail"], problem
    mine = await shopper.call("GET", "/orders")
    assert [o["id"] for o in mine["items"]] == [order["id"]]
    assert await available(shopper, product["id"]) == before - 2  # reserved once

    _, confirmed = await pay(shopper, order["id"])
    assert confirmed.status_code == 200, confirmed.text
    await shopper.until_status(order["id"], "paid", "fulfilling")
    later = await shopper.call("POST", "/orders", expect=None, json=body)
    assert assert_problem(later, 409)["type"].endswith("/cart-empty")
    mine = await shopper.call("GET", "/orders")
    assert [o["id"] for o in mine["items"]] == [order["id"]]


async def test_a_declined_card_fails_the_order_releases_stock_and_restores_the_cart(
    served: tuple[EmbeddedPlatform, httpx.AsyncClient],
) -> None:
    _, http = served
    shopper = await new_shopper(http)
    product = await a_product(shopper)
    before = await available(shopper, product["id"])
    order = await place_order(shopper, product["id"], 3)

    _, declined = await pay(shopper, order["id"], DECLINED_CARD)
    assert_problem(declined, 402)
    failed = await shopper.until_status(order["id"], "payment_failed")
    assert failed["history"][-1]["status"] == "payment_failed"
    await eventually(lambda: available(shopper, product["id"]), lambda n: n == before)

    async def restore() -> httpx.Response:
        return await shopper.call(
            "POST", "/cart/restore", expect=None, json={"order_id": order["id"]}
        )

    restored = await eventually(restore, lambda answer: answer.status_code == 200)
    lines = {line["product_id"]: line["quantity"] for line in restored.json()["lines"]}
    assert lines == {product["id"]: 3}
    await eventually(
        lambda: shopper.call("GET", "/notifications"),
        lambda page: any(n["kind"] == "payment_failed" for n in page["items"]),
    )


async def test_cancel_after_payment_refunds_in_full_and_puts_stock_back(
    served: tuple[EmbeddedPlatform, httpx.AsyncClient],
) -> None:
    _, http = served
    shopper = await new_shopper(http)
    product = await a_product(shopper)
    before = await available(shopper, product["id"])
    order = await place_order(shopper, product["id"], 1)
    payment, _ = await pay(shopper, order["id"])
    await shopper.until_status(order["id"], "paid", "fulfilling")

    cancelled = await shopper.call(
        "POST", f"/orders/{order['id']}/cancel", json={"reason": "changed my mind"}
    )
    assert cancelled["status"] == "cancelled"
    refunded = await shopper.until_status(order["id"], "refunded")
    assert refunded["refunded"] == order["total"]
    settled = await shopper.call("GET", f"/payments/{payment['id']}")
    assert settled["refunded"] == order["total"] and len(settled["refunds"]) == 1
    await eventually(lambda: available(shopper, product["id"]), lambda n: n == before)
    shipments = await shopper.call("GET", "/shipments")
    assert all(s["status"] == "cancelled" for s in shipments["items"])
    await eventually(
        lambda: shopper.call("GET", "/notifications"),
        lambda page: {"order_cancelled", "payment_refunded"} <= {n["kind"] for n in page["items"]},
    )


async def test_an_admin_refunds_part_of_a_payment(
    served: tuple[EmbeddedPlatform, httpx.AsyncClient],
) -> None:
    platform, http = served
    shopper, admin = await new_shopper(http), await admin_of(platform, http)
    order = await place_order(shopper, (await a_product(shopper))["id"], 2)
    payment, _ = await pay(shopper, order["id"])
    await shopper.until_status(order["id"], "paid", "fulfilling")

    refused = await shopper.call(
        "POST", f"/payments/{payment['id']}/refunds", expect=None, json={"amount": 100}
    )
    assert refused.status_code in (403, 404)
    too_much = await admin.call(
        "POST",
        f"/payments/{payment['id']}/refunds",
        expect=None,
        json={"amount": order["total"]["amount"] + 1},
    )
    assert too_much.status_code in (409, 422)
    await admin.call("POST", f"/payments/{payment['id']}/refunds", expect=201, json={"amount": 100})
    after = await eventually(
        lambda: shopper.order(order["id"]), lambda o: o["refunded"]["amount"] == 100
    )
    assert after["status"] in ("paid", "fulfilling")  # a partial refund does not end the order
    notes = await eventually(
        lambda: shopper.call("GET", "/notifications"),
        lambda page: any(n["kind"] == "payment_refunded" for n in page["items"]),
    )
    assert sum(n["kind"] == "payment_refunded" for n in notes["items"]) == 1


async def test_nobody_sees_another_shoppers_checkout(
    served: tuple[EmbeddedPlatform, httpx.AsyncClient],
) -> None:
    _, http = served
    owner, other = await new_shopper(http), await new_shopper(http)
    order = await place_order(owner, (await a_product(owner))["id"], 1)
    payment, _ = await pay(owner, order["id"])
    await owner.until_status(order["id"], "paid", "fulfilling")
    shipment = (
        await eventually(lambda: owner.call("GET", "/shipments"), lambda p: len(p["items"]) == 1)
    )["items"][0]
    address = (await owner.call("GET", "/shipping/addresses"))["items"][0]

    for path in (
        f"/orders/{order['id']}",
        f"/payments/{payment['id']}",
        f"/shipments/{shipment['id']}",
        f"/shipping/addresses/{address['id']}",
    ):
        assert_problem(await other.call("GET", path, expect=None), 404)
    assert_problem(await other.call("POST", f"/orders/{order['id']}/cancel", expect=None), 404)
    intent = {"order_id": order["id"], "payment_method": GOOD_CARD}
    stolen = await other.call("POST", "/payments/intents", expect=None, json=intent)
    assert_problem(stolen, 404)
    assert (await other.call("GET", "/orders"))["items"] == []
    assert (await other.call("GET", "/shipments"))["items"] == []
