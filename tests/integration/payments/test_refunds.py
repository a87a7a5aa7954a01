"""Refunds: full or partial, never more than was captured, and order.cancelled's refund once."""

from __future__ import annotations

import asyncio

from shopfleet.kit.blocks import Delivery
from shopfleet.kit.contracts.events import PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_SUCCEEDED
from tests.integration.payments.conftest import Payments, StartPayments
from tests.support.problems import assert_problem
from tests.support.stripe import closed_port_url


async def test_a_full_refund_by_default(payments: Payments) -> None:
    paid = await payments.paid(amount=1500)
    made = await payments.refund(paid["id"])
    assert made.status_code == 201, made.text
    refund = made.json()
    assert refund["amount"] == {"amount": 1500, "currency": "EUR"}
    assert refund["status"] == "succeeded" and refund["provider_ref"].startswith("re_")

    shown = (await payments.get(paid["id"])).json()
    assert shown["status"] == "refunded"
    assert shown["refunded"] == {"amount": 1500, "currency": "EUR"}
    assert [r["id"] for r in shown["refunds"]] == [refund["id"]]
    # Stripe's charge.refunded webhook comes too and changes nothing more.
    intent = await payments.stripe_intent(paid["provider_ref"])
    charge_id = (
        intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id
    )
    await payments.webhook("charge.refunded", charge_id)
    await payments.settled()
    (event,) = payments.published(PAYMENT_REFUNDED, payment_id=paid["id"])
    assert event.data["amount"] == {"amount": 1500, "currency": "EUR"}
    assert event.data["full"] is True and event.data["refund_id"] == refund["id"]
    assert_problem(await payments.refund(paid["id"]), 409)


async def test_partial_refunds_up_to_what_was_captured(payments: Payments) -> None:
    paid = await payments.paid(amount=1000)
    first = await payments.refund(paid["id"], amount=300)
    assert first.status_code == 201, first.text
    assert (await payments.get(paid["id"])).json()["status"] == "partially_refunded"

    too_much = await payments.refund(paid["id"], amount=701)
    body = assert_problem(too_much, 409)
    assert body["refundable"] == 700

    rest = await payments.refund(paid["id"])
    assert rest.status_code == 201 and rest.json()["amount"]["amount"] == 700
    shown = (await payments.get(paid["id"])).json()
    assert shown["status"] == "refunded" and shown["refunded"]["amount"] == 1000
    await payments.settled()
    events = payments.published(PAYMENT_REFUNDED, payment_id=paid["id"])
    assert [
        (e.data["amount"]["amount"], e.data["refunded_total"]["amount"], e.data["full"])
        for e in events
    ] == [(300, 300, False), (700, 1000, True)]


async def test_concurrent_refunds_never_exceed_the_capture(payments: Payments) -> None:
    paid = await payments.paid(amount=1000)
    answers = await asyncio.gather(*(payments.refund(paid["id"], amount=400) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409]
    shown = (await payments.get(paid["id"])).json()
    assert shown["refunded"]["amount"] == 800
    refunds = await (await payments.stripe_client()).v1.refunds.list_async(
        {"payment_intent": paid["provider_ref"]}
    )
    assert sum(r.amount for r in refunds.data) == 800


async def test_refund_input_and_rules(payments: Payments) -> None:
    paid = await payments.paid(amount=1000)
    for amount in (0, -5, "ten", 10**14):
        assert_problem(await payments.refund(paid["id"], amount=amount), 422, "body.amount")
    assert_problem(
        await payments.refund(paid["id"], amount=10, currency="USD"), 422, "body.currency"
    )
    assert_problem(
        await payments.refund(paid["id"], amount=10, currency="EURO"), 422, "body.currency"
    )
    by_shopper = await payments.http.post(
        payments.api(f"/payments/{paid['id']}/refunds"), json={}, headers=payments.shopper
    )
    assert by_shopper.status_code == 403
    unpaid = (await payments.intent(payments.order())).json()
    assert_problem(await payments.refund(unpaid["id"]), 409)
    missing = "00000000-0000-0000-0000-000000000000"
    assert_problem(await payments.refund(missing), 404)
    assert (await payments.get(paid["id"])).json()["refunded"]["amount"] == 0


async def test_a_cancelled_paid_order_is_refunded_once(payments: Payments) -> None:
    paid = await payments.paid(amount=1200)
    event = payments.cancelled(paid["order_id"], was_paid=True)
    assert await payments.pubsub.deliver(event) == Delivery.SUCCESS
    assert await payments.pubsub.deliver(event) == Delivery.SUCCESS  # redelivered
    # Another cancellation event of the same order does not refund again either.
    again = payments.cancelled(paid["order_id"], was_paid=True)
    assert await payments.pubsub.deliver(again) == Delivery.SUCCESS

    await payments.wait_status(paid["id"], "refunded")
    await payments.service.drain()
    await payments.settled()
    (refunded,) = payments.published(PAYMENT_REFUNDED, payment_id=paid["id"])
    assert refunded.data["full"] is True and refunded.data["amount"]["amount"] == 1200
    shown = (await payments.get(paid["id"])).json()
    assert [r["reason"] for r in shown["refunds"]] == ["order_cancelled"]


async def test_a_cancelled_unpaid_order_cancels_its_intent(payments: Payments) -> None:
    order_id = payments.order()
    payment = (await payments.intent(order_id, payment_method="pm_card_visa")).json()
    event = payments.cancelled(order_id, was_paid=False)
    assert await payments.pubsub.deliver(event) == Delivery.SUCCESS
    await payments.service.drain()

    assert await payments.status(payment["id"]) == "canceled"
    assert (await payments.stripe_intent(payment["provider_ref"])).status == "canceled"
    assert_problem(await payments.confirm(payment["id"]), 409)
    await payments.settled()
    assert payments.published(PAYMENT_REFUNDED) == payments.published(PAYMENT_FAILED) == []

    # An order without a payment: nothing to do.
    nothing = payments.cancelled(payments.order(), was_paid=False)
    assert await payments.pubsub.deliver(nothing) == Delivery.SUCCESS


async def test_money_taken_after_the_order_was_cancelled_is_given_back(
    start_payments: StartPayments,
) -> None:
    # No webhooks reach this app: only the cancellation finds out the intent was paid.
    payments = await start_payments(webhook_base_url=closed_port_url())
    order_id = payments.order(amount=900)
    payment = (await payments.intent(order_id, payment_method="pm_card_visa")).json()
    client = await payments.stripe_client()
    await client.v1.payment_intents.confirm_async(payment["provider_ref"])  # in the browser

    assert await payments.pubsub.deliver(payments.cancelled(order_id, was_paid=False)) == (
        Delivery.SUCCESS
    )
    await payments.service.drain()

    shown = (await payments.get(payment["id"])).json()
    assert shown["status"] == "refunded" and shown["refunded"]["amount"] == 900
    await payments.settled()
    assert payments.published(PAYMENT_SUCCEEDED, payment_id=payment["id"]) == []
    (refunded,) = payments.published(PAYMENT_REFUNDED, payment_id=payment["id"])
    assert refunded.data["full"] is True
