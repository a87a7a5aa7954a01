"""What payments answers when Stripe or orders fail it, and how it reads their answers:
each a refusal of one kind (status, slug, Retry-After), with no HTTP in the code raising it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shopfleet.kit.blocks import ServiceUnavailable
from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.refusals import (
    Refusal,
    UnavailableRefusal,
    UpstreamRefusal,
    headers_of,
    status_of,
)
from shopfleet.payments.clients import orders_client
from shopfleet.payments.domain.from_stripe import Intent, IntentError, StripeRefund
from shopfleet.payments.provider import Declined, Rejected, Unavailable, intent_from
from shopfleet.payments.stripe_accounts import PaymentsNotConfigured
from shopfleet.payments.stripe_events import IntentObject, RefundObject
from tests.support.invoker import Answer, ScriptedInvoker
from tests.support.invoker import answer as invoked
from tests.unit.payments.builders import ORDER_ID, order


def answer(refusal: Refusal) -> tuple[int, str, str | None]:
    return status_of(refusal), refusal.slug, headers_of(refusal).get("Retry-After")


@pytest.mark.parametrize(("status", "expected"), [(503, 503), (502, 502)])
def test_stripe_unreachable_or_failing_keeps_the_payment_and_says_retry(
    status: int, expected: int
) -> None:
    refusal = Unavailable(status, "connection refused").refusal("confirm the payment")
    assert answer(refusal) == (expected, "payment-provider-unavailable", "5")
    assert refusal.detail == (
        "Stripe could not confirm the payment (connection refused); the payment is kept as it "
        "was and is checked again shortly: retry, or look at GET /payments/{id}."
    )


def test_a_declined_card_is_402_naming_the_payment_and_the_code() -> None:
    refusal = Declined("card_declined", "Your card was declined.").refusal("p1")
    assert answer(refusal) == (402, "card-declined", None)
    assert refusal.detail == "The card was declined (card_declined): Your card was declined."
    assert refusal.extra == {"payment_id": "p1", "code": "card_declined"}


def test_a_payment_method_stripe_refuses_is_the_field_to_fix() -> None:
    for rejected in (
        Rejected(400, "No such payment_method", "resource_missing", "payment_method"),
        Rejected(404, "No such payment_method", "resource_missing", None),
    ):
        refusal = rejected.refusal()
        assert answer(refusal) == (422, "invalid-payment-method", None)
        assert refusal.detail == (
            "Fix this field: body.payment_method: Stripe does not accept it: "
            "No such payment_method."
        )


def test_another_request_stripe_refuses_is_a_conflict() -> None:
    refusal = Rejected(400, "Amount too small", "amount_too_small", "amount").refusal()
    assert answer(refusal) == (409, "payment-refused", None)
    assert refusal.detail == "Stripe refused the request: Amount too small"


def test_a_shop_without_stripe_is_503_with_no_retry_after() -> None:
    refusal = PaymentsNotConfigured("Payments are not configured for this shop.")
    assert answer(refusal) == (503, "payments-not-configured", None)


def test_what_stripe_says_of_an_intent_is_read_alike_from_the_sdk_and_a_webhook() -> None:
    error = {"code": "card_declined", "message": "Declined."}
    failed: dict[str, Any] = {"id": "pi_1", "status": "requires_payment_method", "amount": 1999}
    read = Intent(
        "pi_1", "requires_payment_method", 1999, None, IntentError("card_declined", "Declined.")
    )
    from_sdk = {**failed, "last_payment_error": error, "client_secret": "s", "payment_method": ""}
    assert intent_from(from_sdk) == dataclasses.replace(read, client_secret="s")
    from_webhook = IntentObject.model_validate({**failed, "last_payment_error": error})
    assert from_webhook.as_intent() == read
    assert intent_from({"id": "pi_2", "status": "succeeded"}).error is None


def test_a_stripe_refund_says_whether_it_is_ours() -> None:
    ours = RefundObject.model_validate(
        {"id": "re_1", "amount": 100, "status": "succeeded", "metadata": {"refund_id": "r1"}}
    )
    assert ours.as_refund() == StripeRefund("re_1", 100, "succeeded", "r1")
    theirs = RefundObject.model_validate({"id": "re_2", "amount": 100})
    assert theirs.as_refund() == StripeRefund("re_2", 100, None, None)


SUMMARY_PATH = f"/internal/shops/demo/orders/{ORDER_ID}"


async def summary_from(orders_answer: Answer) -> OrderSummary | None:
    """What payments reads of the order when orders answers this (or is down); the one
    call goes to orders, GET, with payments' timeout."""
    orders = ScriptedInvoker([("orders", "GET", SUMMARY_PATH, orders_answer)])
    try:
        return await orders_client(orders, timeout_s=1.0).summary("demo", ORDER_ID)
    finally:
        orders.done()
        assert [sent.timeout_s for sent in orders.sent] == [1.0]


async def test_orders_summary_is_read_or_unknown() -> None:
    known = order().model_dump(mode="json")
    assert await summary_from(invoked(200, known)) == order()
    assert await summary_from(invoked(404, {"status": 404})) is None


async def test_orders_down_or_answering_nonsense_is_refused_as_today() -> None:
    with pytest.raises(UnavailableRefusal) as down:
        await summary_from(ServiceUnavailable("orders", "connection refused"))
    assert answer(down.value) == (503, "service-unavailable", "5")
    assert down.value.detail == "The orders service is unavailable; retry shortly."
    with pytest.raises(UpstreamRefusal, match="The orders service answered 500; retry shortly"):
        await summary_from(invoked(500, {}))
    with pytest.raises(UpstreamRefusal, match="answered something unexpected"):
        await summary_from(invoked(200, {"order_id": ORDER_ID}))
