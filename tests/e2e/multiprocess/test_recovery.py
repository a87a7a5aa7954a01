"""Faults during a checkout on the multi-process platform: a service killed with SIGKILL
(no drain, no outbox flush) and restarted; a sidecar killed (the app's connection to the
broker and to its peers drops) and restarted. RabbitMQ itself is shared by everyone on
this machine and is not restarted; the sidecar's crash is the broker connection dropping.

What must hold afterwards, as the shopper sees it: the order reaches `paid` and then
`fulfilling` exactly once each (its status history), one shipment, one notification per
event, stock taken once, and no event dead-lettered anywhere.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from shopfleet.dev.multiprocess import MultiProcessPlatform
from tests.e2e import test_checkout_journey as checkout
from tests.support.multiprocess import DeadLetters, eventually
from tests.support.problems import assert_problem


async def settled_exactly_once(
    shopper: checkout.Client, order_id: str, product_id: str, expected_available: int
) -> None:
    order = await eventually(
        lambda: shopper.order(order_id), lambda o: o["status"] == "fulfilling", timeout_s=90
    )
    assert [h["status"] for h in order["history"]] == ["pending_payment", "paid", "fulfilling"]
    shipments = await eventually(
        lambda: shopper.call("GET", "/shipments", params={"order_id": order_id}),
        lambda page: len(page["items"]) >= 1,
    )
    assert [s["order_id"] for s in shipments["items"]] == [order_id]
    notes = await eventually(
        lambda: shopper.call("GET", "/notifications"),
        lambda page: {"order_placed", "order_paid"} <= {n["kind"] for n in page["items"]},
    )
    kinds = Counter(n["kind"] for n in notes["items"] if n["order_id"] == order_id)
    assert kinds["order_placed"] == 1 and kinds["order_paid"] == 1, kinds
    assert await checkout.available(shopper, product_id) == expected_available


@pytest.mark.usefixtures("well_stocked")
async def test_orders_killed_during_checkout_loses_nothing_and_applies_nothing_twice(
    platform: MultiProcessPlatform, client: httpx.AsyncClient, dead_letters: DeadLetters
) -> None:
    shopper = await checkout.new_shopper(client)
    product = await checkout.a_product(shopper)
    before = await checkout.available(shopper, product["id"])
    order = await checkout.place_order(shopper, product["id"], 2)
    intent = {"order_id": order["id"], "payment_method": checkout.GOOD_CARD}
    payment = await shopper.call("POST", "/payments/intents", expect=201, json=intent)

    await platform.kill_service("orders")  # SIGKILL, as a node failure would
    try:
        down = await shopper.call("GET", f"/orders/{order['id']}", expect=None)
        assert_problem(down, 503)  # said plainly, with Retry-After; never a 500
        assert down.headers["retry-after"]
        # The payment goes through without orders: Stripe's webhook reaches payments, whose
        # payment.succeeded waits for orders (retried by orders' sidecar, kept by RabbitMQ).
        confirmed = await shopper.call("POST", f"/payments/{payment['id']}/confirm", expect=None)
        assert confirmed.status_code == 200, confirmed.text
        await eventually(
            lambda: shopper.call("GET", f"/payments/{payment['id']}"),
            lambda p: p["status"] == "succeeded",
        )  # the webhook came: payment.succeeded is being delivered to a dead orders
    finally:
        await platform.start_service("orders")

    await settled_exactly_once(shopper, order["id"], product["id"], before - 2)
    again = await shopper.call("POST", "/payments/intents", expect=None, json=intent)
    assert again.status_code == 409 or again.json()["id"] == payment["id"]  # still one charge
    assert (await shopper.call("GET", f"/payments/{payment['id']}"))["status"] == "succeeded"
    assert await dead_letters.drain() == []


@pytest.mark.usefixtures("well_stocked")
async def test_a_sidecar_crash_during_checkout_loses_no_event(
    platform: MultiProcessPlatform, client: httpx.AsyncClient, dead_letters: DeadLetters
) -> None:
    shopper = await checkout.new_shopper(client)
    product = await checkout.a_product(shopper)
    before = await checkout.available(shopper, product["id"])
    order = await checkout.place_order(shopper, product["id"], 1)
    payment = await shopper.call(
        "POST",
        "/payments/intents",
        expect=201,
        json={"order_id": order["id"], "payment_method": checkout.GOOD_CARD},
    )

    # orders' sidecar dies: orders keeps running but is cut off from the broker and its
    # peers; messages it had not acknowledged go back to its queues.
    await platform.kill_sidecar("orders")
    try:
        cut_off = await shopper.call("GET", f"/orders/{order['id']}", expect=None)
        assert_problem(cut_off, 503)
        confirmed = await shopper.call("POST", f"/payments/{payment['id']}/confirm", expect=None)
        assert confirmed.status_code == 200, confirmed.text
        settled = await eventually(
            lambda: shopper.call("GET", f"/payments/{payment['id']}"),
            lambda p: p["status"] == "succeeded",
        )  # payment.succeeded is on its way to orders' queue, which nobody consumes now
        assert settled["order_id"] == order["id"]
    finally:
        await platform.start_sidecar("orders")

    await settled_exactly_once(shopper, order["id"], product["id"], before - 1)
    assert await dead_letters.drain() == []


async def test_a_gracefully_restarted_service_drains_and_comes_back(
    platform: MultiProcessPlatform, client: httpx.AsyncClient
) -> None:
    """SIGTERM (a rolling update): catalog exits 0 and serves again, its data intact."""
    shopper = await checkout.new_shopper(client)
    product = await checkout.a_product(shopper)
    assert await platform.stop_service("catalog") == 0
    unavailable = await client.get(f"{checkout.API}/products/{product['id']}")
    assert_problem(unavailable, 503)
    await platform.start_service("catalog")
    again = await shopper.call("GET", f"/products/{product['id']}")
    assert again["id"] == product["id"] and again["price"] == product["price"]
    # the cart (in Redis, behind cart's own sidecar) still prices against catalog
    await shopper.call(
        "POST", "/cart/items", expect=None, json={"product_id": product["id"], "quantity": 1}
    )
    cart = await shopper.call("GET", "/cart")
    assert [line["product_id"] for line in cart["lines"]] == [product["id"]]
