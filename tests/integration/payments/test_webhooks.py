"""Stripe's webhooks: signed with the shop's secret, each event taking effect once."""

from __future__ import annotations

import contextlib
import time

import orjson
import stripe

from shopfleet.kit.contracts.events import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from tests.integration.payments.conftest import Payments, give_stripe_key
from tests.support.problems import assert_problem
from tests.support.stripe import signature_header


async def _confirmed_in_the_browser(payments: Payments, payment_method: str) -> dict:
    """An intent confirmed at Stripe directly (as Stripe.js does with the client secret):
    only the webhook tells payments what happened."""
    payment = (await payments.intent(payments.order(), payment_method=payment_method)).json()
    client = await payments.stripe_client()
    with contextlib.suppress(stripe.CardError):  # a decline: the webhook tells us too
        await client.v1.payment_intents.confirm_async(payment["provider_ref"])
    return payment


async def test_the_webhook_alone_settles_a_payment_once(payments: Payments) -> None:
    payment = await _confirmed_in_the_browser(payments, "pm_card_visa")

    body, signature = await payments.webhook("payment_intent.succeeded", payment["provider_ref"])
    await payments.wait_status(payment["id"], "succeeded")
    await payments.settled()
    assert len(payments.published(PAYMENT_SUCCEEDED, payment_id=payment["id"])) == 1

    # Stripe delivers it again (same signed body): acknowledged, nothing changes.
    replay = await payments.http.post(
        payments.api("/payments/webhooks/stripe"),
        content=body,
        headers={"Stripe-Signature": signature or "", "Content-Type": "application/json"},
    )
    assert replay.status_code == 200 and replay.json() == {"received": True, "duplicate": True}
    await payments.settled()
    assert len(payments.published(PAYMENT_SUCCEEDED, payment_id=payment["id"])) == 1


async def test_a_declined_card_confirmed_in_the_browser_fails_the_payment(
    payments: Payments,
) -> None:
    payment = await _confirmed_in_the_browser(payments, "pm_card_chargeCustomerFail")
    await payments.webhook("payment_intent.payment_failed", payment["provider_ref"])
    await payments.wait_status(payment["id"], "failed")
    await payments.settled()
    (event,) = payments.published(PAYMENT_FAILED, payment_id=payment["id"])
    assert event.data["code"] == "card_declined"


async def test_forged_unsigned_and_stale_webhooks_change_nothing(payments: Payments) -> None:
    payment = await _confirmed_in_the_browser(payments, "pm_card_visa")
    body, signature = await payments.webhook("payment_intent.succeeded", payment["provider_ref"])
    await payments.wait_status(payment["id"], "succeeded")
    await payments.settled()

    # A second, different event claiming a failure for the same intent: never signed right.
    event = orjson.loads(body)
    event["id"] = "evt_forged"
    event["type"] = "payment_intent.payment_failed"
    event["data"]["object"]["last_payment_error"] = {"code": "card_declined", "message": "no"}
    forged = orjson.dumps(event)
    url = payments.api("/payments/webhooks/stripe")
    attempts = {
        "unsigned": {},
        "garbage": {"Stripe-Signature": "nonsense"},
        "wrong secret": {"Stripe-Signature": signature_header(forged, "whsec_not_the_shops")},
        "other body": {"Stripe-Signature": signature or ""},
        "stale": {
            "Stripe-Signature": signature_header(
                forged, await _secret(payments), timestamp=int(time.time()) - 3600
            )
        },
    }
    for name, headers in attempts.items():
        answer = await payments.http.post(url, content=forged, headers=headers)
        assert answer.status_code == 400, (name, answer.text)
        assert_problem(answer, 400)
    not_json = await payments.http.post(
        url,
        content=b"{nope",
        headers={"Stripe-Signature": signature_header(b"{nope", await _secret(payments))},
    )
    assert_problem(not_json, 400)

    await payments.settled()
    assert await payments.status(payment["id"]) == "succeeded"
    assert payments.published(PAYMENT_FAILED, payment_id=payment["id"]) == []


async def test_an_event_for_another_shops_intent_is_acknowledged_and_ignored(
    payments: Payments,
) -> None:
    event = {
        "id": "evt_elsewhere",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "pi_of_another_shop",
                "object": "payment_intent",
                "status": "succeeded",
                "amount": 100,
                "metadata": {},
            }
        },
    }
    await payments.intent(payments.order())  # the shop's webhook secret exists from here on
    body = orjson.dumps(event)
    answer = await payments.http.post(
        payments.api("/payments/webhooks/stripe"),
        content=body,
        headers={"Stripe-Signature": signature_header(body, await _secret(payments))},
    )
    assert answer.status_code == 200
    await payments.settled()
    assert payments.published(PAYMENT_SUCCEEDED) == []


async def test_a_shop_with_its_own_keys_verifies_with_its_own_webhook_secret(
    start_payments, secrets_env: dict[str, str], shop: str, stripe_emulator
) -> None:
    give_stripe_key(secrets_env, shop, "sk_test_own_key", "whsec_own_secret")
    payments = await start_payments(stripe_api_base=stripe_emulator.url)
    payment = (await payments.intent(payments.order(), payment_method="pm_card_visa")).json()
    await (await payments.stripe_client()).v1.payment_intents.confirm_async(payment["provider_ref"])
    intent = (await payments.stripe_intent(payment["provider_ref"])).to_dict()
    event = {
        "id": "evt_own",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": intent},
    }
    body = orjson.dumps(event)
    url = payments.api("/payments/webhooks/stripe")
    wrong = await payments.http.post(
        url, content=body, headers={"Stripe-Signature": signature_header(body, "whsec_other")}
    )
    assert_problem(wrong, 400)
    right = await payments.http.post(
        url, content=body, headers={"Stripe-Signature": signature_header(body, "whsec_own_secret")}
    )
    assert right.status_code == 200, right.text
    await payments.wait_status(payment["id"], "succeeded")


async def _secret(payments: Payments) -> str:
    secret = await payments.app.state.stripe.webhook_secret(payments.shop)
    assert secret
    return secret
