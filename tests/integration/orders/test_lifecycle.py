"""The saga's events move the order: paid, fulfilling, shipped, delivered; or failed,
refunded. Redelivered or out-of-order events never move it twice or backwards."""

from __future__ import annotations

from shopfleet.kit.blocks import Delivery
from tests.integration.orders.conftest import (
    Checkout,
    payment_failed,
    payment_refunded,
    payment_succeeded,
    shipment,
)


def _statuses(order: dict) -> list[str]:
    return [h["status"] for h in order["history"]]


async def test_payment_then_shipping_moves_the_order_to_delivered(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    order = await checkout.placed(checkout.user(), {mug: 2})

    assert await checkout.paid(order) == Delivery.SUCCESS
    paid = await checkout.order(order["id"])
    assert paid["status"] == "paid" and paid["payment_id"] == "pay-1"
    assert paid["paid_at"] is not None and paid["expires_at"] is None
    stock = await checkout.stock(mug)  # committed: the units left with the order
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (3, 0, 3)
    (event,) = await checkout.relayed("order.paid", order["id"])
    assert event["payment_id"] == "pay-1" and event["total"] == order["total"]
    assert event["shipping_address"]["postal_code"] == order["shipping_address"]["postal_code"]
    assert event["lines"][0]["product_id"] == mug

    assert await checkout.deliver("shipment.created", shipment(order)) == Delivery.SUCCESS
    assert (await checkout.order(order["id"]))["status"] == "fulfilling"
    await checkout.deliver("shipment.status_changed", shipment(order, "shipped"))
    assert (await checkout.order(order["id"]))["status"] == "shipped"
    await checkout.deliver("shipment.status_changed", shipment(order, "delivered", "shipped"))
    done = await checkout.order(order["id"])
    assert _statuses(done) == ["pending_payment", "paid", "fulfilling", "shipped", "delivered"]
    assert [h["cause"] for h in done["history"]] == [
        "placed",
        "payment.succeeded",
        "shipment.created",
        "shipment.shipped",
        "shipment.delivered",
    ]
    assert "JD0001" in done["history"][3]["note"]
    changes = await checkout.pubsub.wait_for("order.status_changed", 5, order_id=order["id"])
    assert [e.data["status"] for e in changes] == _statuses(done)


async def test_out_of_order_shipping_events_never_move_the_order_back(
    checkout: Checkout,
) -> None:
    mug = await checkout.product()
    order = await checkout.placed(checkout.user(), {mug: 1})
    await checkout.paid(order)
    await checkout.deliver("shipment.status_changed", shipment(order, "delivered", "shipped"))
    await checkout.deliver("shipment.status_changed", shipment(order, "shipped"))
    await checkout.deliver("shipment.created", shipment(order))
    after = await checkout.order(order["id"])
    assert after["status"] == "delivered"
    assert _statuses(after) == ["pending_payment", "paid", "delivered"]


async def test_shipping_events_before_payment_change_nothing(checkout: Checkout) -> None:
    mug = await checkout.product()
    order = await checkout.placed(checkout.user(), {mug: 1})
    await checkout.deliver("shipment.created", shipment(order))
    await checkout.deliver("shipment.status_changed", shipment(order, "shipped"))
    assert (await checkout.order(order["id"]))["status"] == "pending_payment"


async def test_a_failed_payment_ends_the_order_and_releases_stock(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    order = await checkout.placed(checkout.user(), {mug: 2})

    assert await checkout.deliver("payment.failed", payment_failed(order)) == Delivery.SUCCESS

    after = await checkout.order(order["id"])
    assert after["status"] == "payment_failed"
    assert "card_declined" in after["cancel_reason"]
    assert (await checkout.stock(mug))["available"] == 5
    (cancelled,) = await checkout.relayed("order.cancelled", order["id"])
    assert cancelled["status"] == "payment_failed" and cancelled["cause"] == "payment_failed"
    assert cancelled["was_paid"] is False and cancelled["lines"][0]["quantity"] == 2
    # A failure reported after a success changes nothing.
    paid_order = await checkout.placed(checkout.user(), {mug: 1})
    await checkout.paid(paid_order)
    await checkout.deliver("payment.failed", payment_failed(paid_order))
    assert (await checkout.order(paid_order["id"]))["status"] == "paid"


async def test_refunds_partial_then_full(checkout: Checkout) -> None:
    mug = await checkout.product(price=2000)
    order = await checkout.placed(checkout.user(), {mug: 1})
    await checkout.paid(order)
    total = order["total"]["amount"]

    await checkout.deliver("payment.refunded", payment_refunded(order, 500, 500, full=False))
    partial = await checkout.order(order["id"])
    assert partial["status"] == "paid"
    assert partial["refunded"]["amount"] == 500
    assert partial["history"][-1]["cause"] == "payment.refunded"

    rest = total - 500
    await checkout.deliver("payment.refunded", payment_refunded(order, rest, total, full=True))
    full = await checkout.order(order["id"])
    assert full["status"] == "refunded" and full["refunded"]["amount"] == total
    assert _statuses(full) == ["pending_payment", "paid", "paid", "refunded"]
    stock = await checkout.stock(mug)  # refunded before shipping: back on hand
    assert (stock["on_hand"], stock["reserved"]) == (10, 0)


async def test_events_for_unknown_orders_are_dropped(checkout: Checkout) -> None:
    ghost = {
        "id": "00000000-0000-0000-0000-000000000000",
        "user_id": "u",
        "total": {"amount": 1, "currency": "EUR"},
    }
    assert await checkout.paid(ghost) == Delivery.DROP
    assert await checkout.deliver("payment.succeeded", {"order_id": 1}) == Delivery.DROP


async def test_every_redelivered_event_changes_nothing(checkout: Checkout) -> None:
    mug = await checkout.product(price=2000, stock=5)
    order = await checkout.placed(checkout.user(), {mug: 1})
    total = order["total"]["amount"]
    steps = [
        ("payment.succeeded", payment_succeeded(order)),
        ("shipment.created", shipment(order)),
        ("shipment.status_changed", shipment(order, "shipped")),
        ("payment.refunded", payment_refunded(order, 300, 300, full=False)),
        ("shipment.status_changed", shipment(order, "delivered", "shipped")),
        ("payment.refunded", payment_refunded(order, total - 300, total, full=True)),
    ]
    for n, (topic, data) in enumerate(steps):
        assert await checkout.deliver(topic, data, event_id=f"evt-{n}") == Delivery.SUCCESS
        before = await checkout.order(order["id"])
        assert await checkout.deliver(topic, data, event_id=f"evt-{n}") == Delivery.SUCCESS
        assert await checkout.order(order["id"]) == before, topic
    final = await checkout.order(order["id"])
    assert _statuses(final) == [
        "pending_payment",
        "paid",
        "fulfilling",
        "shipped",
        "shipped",
        "delivered",
        "refunded",
    ]
    stock = await checkout.stock(mug)
    assert (stock["on_hand"], stock["reserved"]) == (4, 0)  # committed once


async def test_another_shops_event_cannot_touch_an_order(checkout: Checkout) -> None:
    mug = await checkout.product()
    order = await checkout.placed(checkout.user(), {mug: 1})
    delivery = await checkout.pubsub.deliver(
        "payment.succeeded", payment_succeeded(order), shop="bolt"
    )
    assert delivery == Delivery.DROP
    assert (await checkout.order(order["id"]))["status"] == "pending_payment"
