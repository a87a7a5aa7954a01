"""Cancelling: who may, until when; stock released; payments told to refund when paid.
And the races: a cancel against a payment, a payment after the order ended."""

from __future__ import annotations

import asyncio

from shopfleet.kit.blocks import Delivery
from tests.integration.orders.conftest import Checkout, payment_succeeded, shipment
from tests.support.problems import assert_problem


async def test_a_shopper_cancels_an_unpaid_order(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    shopper = checkout.user()
    order = await checkout.placed(shopper, {mug: 2})

    response = await checkout.cancel(shopper, order["id"], reason="changed my mind")

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["status"] == "cancelled" and after["cancel_reason"] == "changed my mind"
    assert after["history"][-1] | {"at": None} == {
        "status": "cancelled",
        "previous": "pending_payment",
        "cause": "user",
        "actor": checkout.sub(shopper),
        "note": "changed my mind",
        "at": None,
    }
    assert (await checkout.stock(mug))["available"] == 5
    (event,) = await checkout.relayed("order.cancelled", order["id"])
    assert event["was_paid"] is False and event["cause"] == "user"
    assert event["status"] == "cancelled" and event["lines"][0]["quantity"] == 2
    again = await checkout.cancel(shopper, order["id"])
    assert assert_problem(again, 409)["type"].endswith("/order-ended")


async def test_a_paid_order_cancelled_tells_payments_to_refund(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    shopper = checkout.user()
    order = await checkout.placed(shopper, {mug: 1})
    await checkout.paid(order)

    response = await checkout.cancel(shopper, order["id"])

    assert response.status_code == 200, response.text
    (event,) = await checkout.relayed("order.cancelled", order["id"])
    assert event["was_paid"] is True and event["total"] == order["total"]
    # The goods had not shipped: catalog puts the committed units back on hand.
    after = await checkout.order(order["id"])
    assert after["history"][-1]["cause"] == "user"
    stock = await checkout.stock(mug)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (5, 0, 5)


async def test_only_an_admin_cancels_once_shipped(checkout: Checkout) -> None:
    mug = await checkout.product()
    shopper = checkout.user()
    order = await checkout.placed(shopper, {mug: 1})
    await checkout.paid(order)
    await checkout.deliver("shipment.status_changed", shipment(order, "shipped"))

    refused = await checkout.cancel(shopper, order["id"])
    assert assert_problem(refused, 409)["type"].endswith("/order-not-cancellable")
    allowed = await checkout.cancel(checkout.admin, order["id"], reason="lost in transit")
    assert allowed.status_code == 200, allowed.text
    last = allowed.json()["history"][-1]
    assert last["cause"] == "admin" and "restock a return by hand" in last["note"]
    stock = await checkout.stock(mug)  # shipped goods do not come back by themselves
    assert (stock["on_hand"], stock["reserved"]) == (9, 0)
    (event,) = await checkout.relayed("order.cancelled", order["id"])
    assert event["cause"] == "admin" and event["was_paid"] is True


async def test_another_users_order_is_404_everywhere(checkout: Checkout) -> None:
    mug = await checkout.product()
    order = await checkout.placed(checkout.user(), {mug: 1})
    intruder = checkout.user()
    assert_problem(await checkout.get(intruder, order["id"]), 404)
    assert_problem(await checkout.cancel(intruder, order["id"]), 404)
    other_shop = checkout.user(shop="bolt")
    assert_problem(await checkout.get(other_shop, order["id"]), 404)
    assert (await checkout.order(order["id"]))["status"] == "pending_payment"


async def test_cancel_racing_payment_ends_consistent(checkout: Checkout) -> None:
    """Whichever wins, the order ends cancelled, payments hears was_paid=True exactly when
    the money was taken before the cancel, and stock is never both sold and released."""
    mug = await checkout.product(stock=40)
    shopper = checkout.user()
    for _ in range(4):
        order = await checkout.placed(shopper, {mug: 1})
        cancel, delivery = await asyncio.gather(
            checkout.cancel(shopper, order["id"]), checkout.paid(order)
        )
        assert cancel.status_code == 200, cancel.text
        assert delivery == Delivery.SUCCESS
        after = await checkout.order(order["id"])
        assert after["status"] == "cancelled"
        # Either paid, then cancelled (one event, was_paid) or cancelled, then a late payment
        # (a second event asking payments to refund).
        await checkout.pubsub.wait_for("order.cancelled", order_id=order["id"], was_paid=True)
        events = await checkout.relayed("order.cancelled", order["id"])
        assert [e["was_paid"] for e in events] in ([True], [False, True])
        assert after["payment_id"] == "pay-1"
    stock = await checkout.stock(mug)  # every unit back: none had shipped
    assert (stock["on_hand"], stock["reserved"]) == (40, 0)


async def test_a_payment_after_the_cancel_is_recorded_and_refunded(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    shopper = checkout.user()
    order = await checkout.placed(shopper, {mug: 1})
    assert (await checkout.cancel(shopper, order["id"])).status_code == 200

    assert await checkout.paid(order, payment_id="pay-late") == Delivery.SUCCESS
    assert await checkout.paid(order, payment_id="pay-late") == Delivery.SUCCESS  # redelivered

    after = await checkout.order(order["id"])
    assert after["status"] == "cancelled" and after["payment_id"] == "pay-late"
    assert after["history"][-1]["cause"] == "payment.late"
    assert [h["cause"] for h in after["history"]].count("payment.late") == 1
    events = await checkout.pubsub.wait_for("order.cancelled", 2, order_id=order["id"])
    assert [e.data["was_paid"] for e in events] == [False, True]
    assert (await checkout.stock(mug))["available"] == 5  # stays released, never committed
    assert not checkout.pubsub.topics("order.paid")


async def test_a_second_payment_for_a_paid_order_is_recorded(checkout: Checkout) -> None:
    mug = await checkout.product()
    order = await checkout.placed(checkout.user(), {mug: 1})
    await checkout.paid(order)
    data = payment_succeeded(order, "pay-2")
    assert await checkout.deliver("payment.succeeded", data) == Delivery.SUCCESS
    after = await checkout.order(order["id"])
    assert after["status"] == "paid" and after["payment_id"] == "pay-1"
    assert after["history"][-1]["cause"] == "payment.duplicate"
