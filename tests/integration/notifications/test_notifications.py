"""What a shopper is told, from each event, and what they (and nobody else) can see of it."""

from __future__ import annotations

from typing import Any

from shopfleet.kit.blocks import Delivery
from shopfleet.kit.contracts import events as ev
from tests.integration.notifications.conftest import (
    OTHER_SHOP,
    Events,
    NotificationsApi,
    new_user,
)


async def _tell_everything(api: NotificationsApi, order: Events) -> None:
    for topic, data in (
        (ev.ORDER_PLACED, order.placed()),
        (ev.ORDER_PAID, order.paid()),
        (ev.SHIPMENT_CREATED, order.shipment_created()),
        (ev.SHIPMENT_STATUS_CHANGED, order.shipment_status("packed", "pending")),
        (ev.SHIPMENT_STATUS_CHANGED, order.shipment_status("shipped", "packed")),
        (ev.SHIPMENT_STATUS_CHANGED, order.shipment_status("delivered", "shipped")),
    ):
        assert await api.deliver(topic, data) == Delivery.SUCCESS


async def test_a_shopper_is_told_each_step_of_an_order(notifications: NotificationsApi) -> None:
    user = new_user()
    order = Events(user)
    await _tell_everything(notifications, order)

    items = await notifications.items(user)
    # Newest first; shipment created and "packed" are not worth a message.
    assert [item["kind"] for item in items] == [
        "order_delivered",
        "order_shipped",
        "order_paid",
        "order_placed",
    ]
    ref = order.order_id[:8].upper()
    placed, paid, shipped = items[3], items[2], items[1]
    assert placed["title"] == f"Order {ref} received"
    assert "29.90 EUR in total (shipping 4.90 EUR)" in placed["message"]
    assert "2 items" in placed["message"]
    assert paid["message"] == (
        f"We received your payment of 29.90 EUR for order {ref}. We are preparing your shipment."
    )
    assert shipped["message"] == f"Order {ref} has shipped with DHL, tracking number JD0123."
    for item in items:
        assert item["order_id"] == order.order_id and item["user_id"] == user
        assert item["read"] is False and item["read_at"] is None
        assert item["delivery"]["status"] == "pending" and item["delivery"]["attempts"] == 0
        assert item["delivery"]["last_error"] is None


async def test_cancellations_refunds_and_failed_payments(notifications: NotificationsApi) -> None:
    user = new_user()
    paid_then_cancelled, expired, declined = Events(user), Events(user), Events(user)
    for topic, data in (
        (ev.ORDER_CANCELLED, paid_then_cancelled.cancelled(cause="admin", was_paid=True)),
        (ev.PAYMENT_REFUNDED, paid_then_cancelled.refunded(1000, full=False)),
        (ev.ORDER_CANCELLED, expired.cancelled(cause="expired")),
        (ev.PAYMENT_FAILED, declined.payment_failed()),
        # The same decline, told by orders too: the shopper hears of it once.
        (ev.ORDER_CANCELLED, declined.cancelled(status="payment_failed", cause="payment_failed")),
    ):
        assert await notifications.deliver(topic, data) == Delivery.SUCCESS

    by_order: dict[str, list[dict[str, Any]]] = {}
    for item in await notifications.items(user):
        by_order.setdefault(item["order_id"], []).append(item)

    ref = paid_then_cancelled.order_id[:8].upper()
    refund, cancel = by_order[paid_then_cancelled.order_id]
    assert cancel["kind"] == "order_cancelled"
    assert cancel["message"] == (
        f"The shop cancelled order {ref}. Reason: Out of stock. Your payment of 29.90 EUR will "
        "be refunded in full. You can put its items back into your cart."
    )
    assert refund["kind"] == "payment_refunded"
    assert refund["title"] == f"Refund of 10.00 EUR for order {ref}"
    assert "(10.00 EUR refunded so far)" in refund["message"]

    [expiry] = by_order[expired.order_id]
    assert "was cancelled because it was not paid in time" in expiry["message"]
    assert "refund" not in expiry["message"]

    [failure] = by_order[declined.order_id]
    assert failure["kind"] == "payment_failed"
    assert failure["message"].endswith("failed: Your card was declined.")


async def test_a_redelivered_event_tells_nothing_twice(notifications: NotificationsApi) -> None:
    user = new_user()
    order = Events(user)
    for _ in range(3):
        answer = await notifications.deliver(ev.ORDER_PAID, order.paid(), event_id="evt-1")
        assert answer == Delivery.SUCCESS
    # Another event id for the same fact (e.g. a re-published event): still one message.
    assert await notifications.deliver(ev.ORDER_PAID, order.paid()) == Delivery.SUCCESS
    assert [item["kind"] for item in await notifications.items(user)] == ["order_paid"]


async def test_an_event_that_breaks_its_contract_is_dropped(
    notifications: NotificationsApi,
) -> None:
    user = new_user()
    broken = Events(user).placed() | {"total": {"amount": -1, "currency": "EUR"}}
    assert await notifications.deliver(ev.ORDER_PLACED, broken) == Delivery.DROP
    assert await notifications.items(user) == []


async def test_nobody_else_sees_a_shoppers_notifications(notifications: NotificationsApi) -> None:
    shopper, stranger, admin = new_user(), new_user(), new_user()
    await notifications.deliver(ev.ORDER_PLACED, Events(shopper).placed())
    [mine] = await notifications.items(shopper)

    assert await notifications.items(stranger) == []
    notifications.assert_problem(await notifications.read(stranger, mine["id"]), 404)
    notifications.assert_problem(await notifications.list(stranger, user=shopper), 403)
    # The same user id in another shop is another shopper.
    other_shop = await notifications.list(shopper, shop=OTHER_SHOP)
    assert other_shop.status_code == 200 and other_shop.json()["items"] == []
    notifications.assert_problem(
        await notifications.read(shopper, mine["id"], shop=OTHER_SHOP), 404
    )
    # A token of another shop gets nothing here.
    foreign = await notifications.http.get(
        "/shops/acme/api/v1/notifications",
        headers=notifications.headers(shopper, shop=OTHER_SHOP),
    )
    notifications.assert_problem(foreign, 404)
    notifications.assert_problem(
        await notifications.http.get("/shops/acme/api/v1/notifications"), 401
    )

    # A shop admin sees any shopper's, delivery errors included.
    seen = await notifications.list(admin, admin=True, user=shopper)
    assert seen.status_code == 200, seen.text
    assert [item["id"] for item in seen.json()["items"]] == [mine["id"]]
    assert (await notifications.list(admin, admin=True)).json()["items"] == []  # own by default


async def test_reading_pages_and_the_unread_filter(notifications: NotificationsApi) -> None:
    user = new_user()
    orders = [Events(user) for _ in range(5)]
    for order in orders:
        await notifications.deliver(ev.ORDER_PLACED, order.placed())
    everything = await notifications.items(user, limit=100)
    assert len(everything) == 5

    pages, cursor = [], None
    while True:
        answer = await notifications.list(user, limit=2, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= 2 and body["unread_count"] == 5
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [nid for page in pages for nid in page] == [item["id"] for item in everything]

    first = everything[1]["id"]
    read = await notifications.read(user, first)
    assert read.status_code == 200, read.text
    assert read.json()["read"] is True and read.json()["read_at"] is not None
    again = await notifications.read(user, first)
    assert again.json()["read_at"] == read.json()["read_at"]  # reading twice changes nothing

    unread = (await notifications.list(user, unread="true")).json()
    assert unread["unread_count"] == 4
    assert first not in [item["id"] for item in unread["items"]] and len(unread["items"]) == 4
    assert [item["id"] for item in await notifications.items(user, unread="false")] == [first]


async def test_bad_input_says_what_to_fix(notifications: NotificationsApi) -> None:
    user = new_user()
    notifications.assert_problem(
        await notifications.list(user, cursor="not-a-cursor"), 400, "query.cursor"
    )
    notifications.assert_problem(await notifications.list(user, limit=0), 422, "query.limit")
    notifications.assert_problem(await notifications.read(user, "nope"), 422)
    notifications.assert_problem(
        await notifications.read(user, "00000000-0000-0000-0000-000000000000"), 404
    )
