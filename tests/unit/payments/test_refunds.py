"""How much a refund may take, what a cancelled order does to its payment, and what
Stripe's word on a refund changes."""

from __future__ import annotations

import pytest

from shopfleet.kit.refusals import InvalidRefusal, status_of
from shopfleet.payments.domain.from_stripe import StripeRefund
from shopfleet.payments.domain.payment import PaymentStatus, RefundStatus
from shopfleet.payments.domain.refunds import (
    CancelOpen,
    RefundFailed,
    RefundRest,
    RefundSucceeded,
    RefundUnderWay,
    adopts_refund,
    check_refund_currency,
    on_order_cancelled,
    payment_refunded,
    refund_amount,
    refund_taken_meanwhile,
    settle_refund,
)
from shopfleet.payments.domain.refusals import PaymentNotRefundable, RefundExceedsCaptured
from tests.unit.payments.builders import NOW, captured, payment, refund


@pytest.mark.parametrize(
    "status",
    [PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.FAILED, PaymentStatus.CANCELED],
)
def test_only_a_captured_payment_can_be_refunded(status: PaymentStatus) -> None:
    with pytest.raises(PaymentNotRefundable) as refused:
        refund_amount(payment(status), None)
    assert refused.value.slug == "payment-not-refundable"
    assert refused.value.detail == (
        f"The payment is {status}: only a captured payment can be refunded."
    )


def test_a_refund_takes_all_that_is_left_unless_told_an_amount() -> None:
    paid = captured(1999, refunded_amount=500, refund_reserved=300)
    assert paid.refundable == 1199
    assert refund_amount(paid, None) == 1199
    assert refund_amount(paid, 100) == 100
    assert refund_amount(paid, 1199) == 1199


def test_a_refund_cannot_take_more_than_is_left() -> None:
    with pytest.raises(RefundExceedsCaptured) as refused:
        refund_amount(captured(1999, refunded_amount=1000), 1000)
    assert status_of(refused.value) == 409
    assert refused.value.detail == "At most 9.99 EUR can still be refunded."
    assert refused.value.extra == {"refundable": 999}


def test_a_payment_refunded_in_full_or_under_way_refunds_nothing_more() -> None:
    for paid in (
        captured(1999, refunded_amount=1999, status=PaymentStatus.REFUNDED),
        captured(1999, refund_reserved=1999),
    ):
        with pytest.raises(RefundExceedsCaptured, match="refunded in full already"):
            refund_amount(paid, None)
    assert refund_taken_meanwhile().slug == "refund-exceeds-captured"


def test_a_refund_is_in_the_payments_currency() -> None:
    check_refund_currency(captured(), None)
    check_refund_currency(captured(), "EUR")
    with pytest.raises(InvalidRefusal) as refused:
        check_refund_currency(captured(), "USD")
    assert refused.value.field == "body.currency"
    assert refused.value.message == "must be the payment's currency, EUR"


def test_a_cancelled_orders_captured_payment_is_refunded_once() -> None:
    assert on_order_cancelled(captured(), refunding_for_cancel=False) == RefundRest()
    assert on_order_cancelled(captured(), refunding_for_cancel=True) is None
    partly = captured(1999, refunded_amount=1999, status=PaymentStatus.REFUNDED)
    assert on_order_cancelled(partly, refunding_for_cancel=False) is None


def test_a_cancelled_orders_open_payment_is_cancelled_and_a_failed_one_left() -> None:
    for status in (PaymentStatus.CREATING, PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
        assert on_order_cancelled(payment(status), refunding_for_cancel=False) == (CancelOpen())
    for status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        assert on_order_cancelled(payment(status), refunding_for_cancel=False) is None


def test_stripes_word_settles_a_pending_refund() -> None:
    pending = refund()
    assert settle_refund(pending, "re_1", "succeeded", None) == RefundSucceeded("re_1")
    assert settle_refund(pending, None, "failed", "insufficient funds") == RefundFailed(
        None, "insufficient funds"
    )
    assert settle_refund(pending, "re_1", "canceled", None) == RefundFailed(
        "re_1", "Stripe: canceled"
    )


def test_a_refund_under_way_at_stripe_keeps_its_id_once() -> None:
    assert settle_refund(refund(), "re_1", "pending", None) == RefundUnderWay("re_1")
    assert settle_refund(refund(provider_refund_id="re_1"), "re_1", "pending", None) is None
    assert settle_refund(refund(), None, None, None) is None


@pytest.mark.parametrize("status", [RefundStatus.SUCCEEDED, RefundStatus.FAILED])
def test_a_settled_refund_told_again_changes_nothing(status: RefundStatus) -> None:
    settled = refund(status, provider_refund_id="re_1")
    for word in ("succeeded", "failed", "canceled"):
        assert settle_refund(settled, "re_1", word, None) is None


def test_a_refund_made_at_stripe_is_recorded_once_it_succeeded() -> None:
    assert adopts_refund(StripeRefund("re_9", 100, "succeeded", None))
    assert not adopts_refund(StripeRefund("re_9", 100, "pending", None))
    assert not adopts_refund(StripeRefund("re_9", 100, "failed", None))


def test_the_refunded_event_says_the_total_and_whether_it_is_in_full() -> None:
    part = payment_refunded(refund(amount=500), captured(1999, refunded_amount=500), NOW)
    assert (part.amount.amount, part.refunded_total.amount, part.full) == (500, 500, False)
    rest = payment_refunded(refund(amount=1499), captured(1999, refunded_amount=1999), NOW)
    assert (rest.refunded_total.amount, rest.full) == (1999, True)
