"""Intents: one per order, confirmed with a test card, settled once whatever tells us."""

from __future__ import annotations

import asyncio
import time

from shopfleet.kit.contracts.events import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from tests.integration.payments.conftest import Payments
from tests.support.problems import assert_problem


async def test_a_good_card_pays_the_order_once(payments: Payments) -> None:
    order_id = payments.order(amount=2599, currency="EUR")

    made = await payments.intent(order_id)
    assert made.status_code == 201, made.text
    payment = made.json()
    assert payment["order_id"] == order_id
    assert payment["amount"] == {"amount": 2599, "currency": "EUR"}
    assert payment["status"] == "pending"
    assert payment["provider_ref"].startswith("pi_")
    assert payment["client_secret"].startswith(payment["provider_ref"])
    assert made.headers["location"].endswith(f"/payments/{payment['id']}")

    confirmed = await payments.confirm(payment["id"], payment_method="pm_card_visa")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    assert confirmed.json()["captured"] == {"amount": 2599, "currency": "EUR"}

    # Stripe's signed webhook arrives too; it changes nothing more.
    await payments.webhook("payment_intent.succeeded", payment["provider_ref"])
    await payments.settled()
    (event,) = payments.published(PAYMENT_SUCCEEDED, payment_id=payment["id"])
    assert event.data["order_id"] == order_id
    assert event.data["user_id"] == "shopper"
    assert event.data["amount"] == {"amount": 2599, "currency": "EUR"}
    assert event.data["provider_ref"] == payment["provider_ref"]
    intent = await payments.stripe_intent(payment["provider_ref"])
    assert intent.status == "succeeded" and intent.amount == 2599 and intent.currency == "eur"
    assert intent.metadata.to_dict() == {
        "shop": payments.shop,
        "order_id": order_id,
        "payment_id": payment["id"],
        "user_id": "shopper",
    }


async def test_asking_again_returns_the_same_payment(payments: Payments) -> None:
    order_id = payments.order()
    first = await payments.intent(order_id, payment_method="pm_card_visa")
    again = await payments.intent(order_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["provider_ref"] == first.json()["provider_ref"]

    # Concurrent first calls for another order still make one payment.
    other = payments.order()
    answers = await asyncio.gather(*(payments.intent(other) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    listed = await payments.http.get(
        payments.api("/payments"), params={"order_id": other}, headers=payments.shopper
    )
    assert [p["id"] for p in listed.json()["items"]] == [answers[0].json()["id"]]


async def test_a_confirmed_payment_confirms_again_to_the_same_answer(payments: Payments) -> None:
    paid = await payments.paid()
    again = await payments.confirm(paid["id"])
    assert again.status_code == 200 and again.json()["status"] == "succeeded"
    await payments.settled()
    assert len(payments.published(PAYMENT_SUCCEEDED, payment_id=paid["id"])) == 1


async def test_the_payment_follows_a_changed_order_total_while_pending(payments: Payments) -> None:
    order_id = payments.order(amount=1000)
    first = (await payments.intent(order_id)).json()
    payments.orders.set(
        payments.shop, order_id, "shopper", amount=1250, currency="EUR", status="pending_payment"
    )
    again = await payments.intent(order_id)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert again.json()["amount"] == {"amount": 1250, "currency": "EUR"}
    assert (await payments.stripe_intent(first["provider_ref"])).amount == 1250


async def test_a_declined_card_fails_the_payment(payments: Payments) -> None:
    order_id = payments.order()
    payment = (await payments.intent(order_id)).json()

    declined = await payments.confirm(payment["id"], payment_method="pm_card_visa_chargeDeclined")
    body = assert_problem(declined, 402)
    assert body["code"] == "card_declined" and body["payment_id"] == payment["id"]

    shown = (await payments.get(payment["id"])).json()
    assert shown["status"] == "failed"
    assert shown["failure_code"] == "card_declined"
    await payments.webhook("payment_intent.payment_failed", payment["provider_ref"])
    await payments.settled()
    (event,) = payments.published(PAYMENT_FAILED, payment_id=payment["id"])
    assert event.data["code"] == "card_declined" and event.data["order_id"] == order_id
    assert payments.published(PAYMENT_SUCCEEDED, payment_id=payment["id"]) == []

    again = await payments.confirm(payment["id"], payment_method="pm_card_visa")
    assert_problem(again, 409)


async def test_only_a_payable_order_of_your_own_gets_an_intent(payments: Payments) -> None:
    mine = payments.order()
    assert_problem(await payments.intent(mine, payments.headers("someone-else")), 404)
    assert_problem(await payments.intent("00000000-0000-4000-8000-000000000000"), 404)
    assert_problem(await payments.intent("no-such-order"), 422)  # not an order id at all
    paid_order = payments.order(status="paid")
    assert_problem(await payments.intent(paid_order), 409)
    free = payments.order(amount=0)
    assert_problem(await payments.intent(free), 409)
    # An admin of the shop may make it for the shopper; it is still the shopper's payment.
    made = await payments.intent(mine, payments.admin)
    assert made.status_code == 201 and made.json()["user_id"] == "shopper"


async def test_another_users_payment_is_not_found(payments: Payments) -> None:
    paid = await payments.paid()
    stranger = payments.headers("someone-else")
    assert_problem(await payments.get(paid["id"], stranger), 404)
    assert_problem(await payments.confirm(paid["id"], stranger), 404)
    listed = await payments.http.get(payments.api("/payments"), headers=stranger)
    assert listed.status_code == 200 and listed.json()["items"] == []
    other_shop = payments.mint.token(shop="elsewhere", roles=["Admin"], sub="shopper")
    answer = await payments.http.get(
        payments.api(f"/payments/{paid['id']}"), headers={"Authorization": f"Bearer {other_shop}"}
    )
    assert answer.status_code in (403, 404)
    assert (await payments.get(paid["id"], payments.admin)).status_code == 200


async def test_input_is_validated(payments: Payments) -> None:
    order_id = payments.order()
    assert_problem(
        await payments.intent(order_id, payment_method="visa"), 422, "body.payment_method"
    )
    assert_problem(
        await payments.intent(
            "../etc",
        ),
        422,
        "body.order_id",
    )
    answer = await payments.http.post(
        payments.api("/payments/intents"),
        json={"order_id": order_id, "amount": 1},
        headers=payments.shopper,
    )
    assert_problem(answer, 422, "body.amount")
    payment = (await payments.intent(order_id)).json()
    assert_problem(await payments.confirm(payment["id"]), 422, "body.payment_method")
    unknown = await payments.confirm(payment["id"], payment_method="pm_nonexistent")
    assert_problem(unknown, 422, "body.payment_method")
    assert (await payments.get(payment["id"])).json()["status"] == "pending"
    assert_problem(await payments.get("not-a-uuid!"), 422)
    assert (await payments.http.post(payments.api("/payments/intents"), json={})).status_code == 401


async def test_payments_are_listed_newest_first_page_by_page(payments: Payments) -> None:
    made = [(await payments.intent(payments.order())).json()["id"] for _ in range(3)]
    stranger_order = payments.order(user_id="someone-else")
    theirs = (await payments.intent(stranger_order, payments.headers("someone-else"))).json()
    url = payments.api("/payments")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await payments.http.get(url, params=params, headers=payments.shopper)).json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == made[::-1]
    everyone = await payments.http.get(url, params={"limit": 100}, headers=payments.admin)
    assert {p["id"] for p in everyone.json()["items"]} == {*made, theirs["id"]}
    pending = await payments.http.get(url, params={"status": "succeeded"}, headers=payments.admin)
    assert pending.json()["items"] == []
    assert_problem(
        await payments.http.get(url, params={"cursor": "nope"}, headers=payments.shopper), 400
    )
    assert_problem(
        await payments.http.get(url, params={"status": "x"}, headers=payments.shopper), 422
    )


async def test_confirming_twice_at_once_charges_once(payments: Payments) -> None:
    started = int(time.time()) - 1
    payment = (await payments.intent(payments.order(), payment_method="pm_card_visa")).json()
    answers = await asyncio.gather(*(payments.confirm(payment["id"]) for _ in range(3)))
    for answer in answers:
        assert answer.status_code == 200, answer.text
    assert {a.json()["status"] for a in answers} <= {"processing", "succeeded"}
    await payments.wait_status(payment["id"], "succeeded")
    await payments.webhook("payment_intent.succeeded", payment["provider_ref"])
    await payments.settled()
    assert len(payments.published(PAYMENT_SUCCEEDED, payment_id=payment["id"])) == 1
    charges = await (await payments.stripe_client()).v1.charges.list_async(
        {"created": {"gt": started}, "limit": 100}
    )
    mine = [c for c in charges.data if c.payment_intent == payment["provider_ref"]]
    assert len(mine) == 1


async def test_an_order_above_what_one_card_payment_can_charge_is_refused(
    payments: Payments,
) -> None:
    """Issue 12, hole 11: an order placed before orders checked its total (Stripe takes at
    most 99,999,999 minor units) is refused with a 409 naming the limit, Stripe untouched."""
    order_id = payments.order(amount=100_000_000)
    answer = await payments.intent(order_id, payment_method="pm_card_visa")
    problem = assert_problem(answer, 409)
    assert problem["type"].endswith("/order-too-large"), problem
    assert problem["limit"] == {"amount": 99_999_999, "currency": "EUR"}
    listed = await payments.http.get(
        payments.api("/payments"), params={"order_id": order_id}, headers=payments.shopper
    )
    assert listed.json()["items"] == []


async def test_making_and_confirming_answer_the_payment_as_stored(payments: Payments) -> None:
    """The intent's and the confirm's answers are built from what they wrote (not read
    again): each is what a read of the payment answers right after."""
    order_id = payments.order(amount=1250, currency="EUR")
    made = await payments.intent(order_id, payment_method="pm_card_visa")
    assert made.status_code == 201, made.text
    payment_id = made.json()["id"]
    for headers in (payments.shopper, payments.admin):  # the admin's: no client secret
        made_as_seen = await payments.intent(order_id, headers=headers)
        assert made_as_seen.status_code == 200, made_as_seen.text
        assert made_as_seen.json() == (await payments.get(payment_id, headers)).json()
    assert made.json() == (await payments.get(payment_id)).json()

    confirmed = await payments.confirm(payment_id)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    assert confirmed.json() == (await payments.get(payment_id)).json()
    again = await payments.confirm(payment_id)  # confirmed already: read, same answer
    assert again.status_code == 200 and again.json() == confirmed.json()
