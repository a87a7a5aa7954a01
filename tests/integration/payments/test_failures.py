"""When Stripe cannot be reached or fails, and when its webhook never comes."""

from __future__ import annotations

from shopfleet.kit.contracts.events import PAYMENT_SUCCEEDED
from tests.integration.payments.conftest import Payments, StartPayments, give_stripe_key
from tests.support.problems import assert_problem
from tests.support.stripe import closed_port_url, failing_stripe


async def test_the_reconciler_settles_a_payment_whose_webhook_never_came(
    start_payments: StartPayments,
) -> None:
    payments = await start_payments(webhook_base_url=closed_port_url(), reconcile_after_s=0)
    payment = (await payments.intent(payments.order(), payment_method="pm_card_visa")).json()
    # Confirmed in the browser: Stripe knows, its webhook cannot reach us.
    await (await payments.stripe_client()).v1.payment_intents.confirm_async(payment["provider_ref"])

    await payments.wait_status(payment["id"], "succeeded")
    await payments.settled()
    assert len(payments.published(PAYMENT_SUCCEEDED, payment_id=payment["id"])) == 1
    assert payments.recorder.deliveries == []


async def test_a_network_error_keeps_the_payment_retriable(
    start_payments: StartPayments, secrets_env: dict[str, str], shop: str, stripe_emulator
) -> None:
    give_stripe_key(secrets_env, shop, "sk_test_key", "whsec_key")
    # The reconcilers of both run only when the test says (no background rounds).
    healthy = await start_payments(stripe_api_base=stripe_emulator.url, reconcile_interval_s=3600)
    cut_off = await start_payments(
        stripe_api_base=closed_port_url(), reconcile_after_s=0, reconcile_interval_s=3600
    )

    order_id = healthy.order()
    down = await cut_off.intent(order_id)
    assert_problem(down, 503)
    assert down.headers["retry-after"]

    payment = (await healthy.intent(order_id, payment_method="pm_card_visa")).json()
    assert payment["status"] == "pending"
    unreachable = await cut_off.confirm(payment["id"])
    assert_problem(unreachable, 503)
    assert await healthy.status(payment["id"]) == "processing"  # outcome unknown: kept open

    # The reconciler asks Stripe: the intent was never confirmed there, so it is pending again.
    await healthy.service.reconcile_once()
    assert await healthy.status(payment["id"]) == "pending"
    confirmed = await healthy.confirm(payment["id"])
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"


async def test_a_stripe_server_error_keeps_the_payment_retriable(
    start_payments: StartPayments, secrets_env: dict[str, str], shop: str, stripe_emulator
) -> None:
    give_stripe_key(secrets_env, shop, "sk_test_key", "whsec_key")
    healthy = await start_payments(stripe_api_base=stripe_emulator.url, reconcile_interval_s=3600)
    async with failing_stripe(500) as broken_url:
        broken = await start_payments(
            stripe_api_base=broken_url, reconcile_after_s=0, reconcile_interval_s=3600
        )
        order_id = healthy.order()
        failed = await broken.intent(order_id)
        assert_problem(failed, 502)

        # The payment row waits for its intent: the next call makes it.
        made = await healthy.intent(order_id, payment_method="pm_card_visa")
        assert made.status_code == 201
        payment = made.json()

        assert_problem(await broken.confirm(payment["id"]), 502)
        assert await healthy.status(payment["id"]) == "processing"
        paid = await healthy.paid()
        assert_problem(await broken.refund(paid["id"], amount=100), 502)
        shown = (await healthy.get(paid["id"])).json()
        assert shown["refunded"]["amount"] == 0
        assert [r["status"] for r in shown["refunds"]] == ["pending"]

    # Stripe is back: the reconciler finishes both.
    await healthy.service.reconcile_once()
    assert await healthy.status(payment["id"]) == "pending"
    shown = (await healthy.get(paid["id"])).json()
    assert shown["refunded"]["amount"] == 100
    assert [r["status"] for r in shown["refunds"]] == ["succeeded"]


async def test_without_a_key_and_without_the_emulator_payments_are_not_configured(
    start_payments: StartPayments,
) -> None:
    payments = await start_payments(stripe_emulator="off")
    body = assert_problem(await payments.intent(payments.order()), 503)
    assert "not configured" in body["detail"]


async def test_the_app_starts_its_own_emulator(start_payments: StartPayments) -> None:
    payments: Payments = await start_payments(stripe_emulator_url=None, stripe_emulator_eager=True)
    stripe = payments.app.state.stripe
    pid = stripe.emulator_pid
    assert pid is not None  # started with the app, before any payment
    paid = await payments.paid()
    await payments.webhook("payment_intent.succeeded", paid["provider_ref"])
    assert stripe.emulator_pid == pid
    log = payments.app.state.stripe.emulator.log_path
    assert log.exists()
