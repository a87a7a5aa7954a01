"""Who may pay an order, when an intent is made, reused or follows the order; confirming."""

from __future__ import annotations

import pytest

from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.money import max_charge
from shopfleet.kit.refusals import InvalidRefusal, NotFoundRefusal, StateRefusal, status_of
from shopfleet.payments.domain.access import existing_payment, seen_by
from shopfleet.payments.domain.intents import (
    Confirm,
    FollowTotal,
    MakeIntent,
    ReusePayment,
    payable_order,
    plan_confirm,
    plan_intent,
)
from shopfleet.payments.domain.payment import PaymentRecord, PaymentStatus
from shopfleet.payments.domain.refusals import (
    OrderNotPayable,
    OrderTooLarge,
    OrderTotalChanged,
    PaymentNotConfirmable,
)
from tests.unit.payments.builders import ORDER_ID, SHOPPER, captured, order, payment


def test_only_the_orders_shopper_or_an_admin_may_pay_it() -> None:
    mine = order()
    assert payable_order(mine, ORDER_ID, user_id=SHOPPER, is_admin=False) is mine
    assert payable_order(mine, ORDER_ID, user_id="boss", is_admin=True) is mine
    for summary, user_id in ((mine, "someone-else"), (None, SHOPPER)):
        with pytest.raises(NotFoundRefusal) as refused:
            payable_order(summary, ORDER_ID, user_id=user_id, is_admin=False)
        assert refused.value.detail == f"There is no order '{ORDER_ID}'."


def test_an_order_without_a_payment_gets_a_new_one() -> None:
    assert plan_intent(order(), None) == MakeIntent(payment_id=None)


def test_a_payment_whose_intent_was_not_made_gets_it_now() -> None:
    stuck = payment(PaymentStatus.CREATING, provider_intent_id=None)
    assert plan_intent(order(), stuck) == MakeIntent(payment_id=stuck.id)


@pytest.mark.parametrize(
    "status", [PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.SUCCEEDED]
)
def test_asking_again_answers_with_the_same_payment(status: PaymentStatus) -> None:
    assert plan_intent(order(), payment(status)) == ReusePayment(payment_id="p1")


def test_a_pending_intent_follows_the_orders_new_total() -> None:
    plan = plan_intent(order(amount=2500), payment(PaymentStatus.PENDING))
    assert plan == FollowTotal(payment_id="p1", intent_id="pi_1", amount=2500)


@pytest.mark.parametrize(
    ("existing", "total"),
    [
        (payment(PaymentStatus.PROCESSING), order(amount=2500)),
        (captured(), order(amount=2500)),
        (payment(PaymentStatus.PENDING), order(amount=1999, currency="USD")),
    ],
)
def test_a_total_that_changed_after_confirming_or_in_another_currency_is_refused(
    existing: PaymentRecord, total: OrderSummary
) -> None:
    with pytest.raises(OrderTotalChanged) as refused:
        plan_intent(total, existing)
    assert refused.value.slug == "order-total-changed"
    assert refused.value.detail.endswith(f"after its payment became {existing.status}.")


def test_only_an_order_waiting_for_payment_can_be_paid() -> None:
    for status in ("paid", "cancelled", "payment_failed"):
        with pytest.raises(OrderNotPayable) as refused:
            plan_intent(order(status=status), None)
        assert refused.value.slug == "order-not-payable"
        assert refused.value.detail == (
            f"Order '{ORDER_ID}' is {status}: only an order waiting for payment can be paid."
        )


def test_an_order_with_nothing_to_pay_is_refused() -> None:
    with pytest.raises(OrderNotPayable, match="has nothing to pay"):
        plan_intent(order(amount=0), None)


def test_an_order_above_what_one_charge_can_take_is_refused_with_the_limit() -> None:
    limit = max_charge("EUR")
    assert plan_intent(order(amount=limit.amount), None) == MakeIntent(payment_id=None)
    with pytest.raises(OrderTooLarge) as refused:
        plan_intent(order(amount=limit.amount + 1), None)
    assert status_of(refused.value) == 409 and refused.value.slug == "order-too-large"
    assert refused.value.extra == {"limit": {"amount": limit.amount, "currency": "EUR"}}
    assert f"more than one card payment can charge ({limit})" in refused.value.detail


def test_confirming_a_captured_payment_again_changes_nothing() -> None:
    assert plan_confirm(captured(), None) is None
    assert plan_confirm(captured(), "pm_card_visa") is None  # the method it was paid with


@pytest.mark.parametrize(
    "settled",
    [payment(PaymentStatus.FAILED), payment(PaymentStatus.CANCELED)],
)
def test_a_settled_payment_cannot_be_confirmed(settled: PaymentRecord) -> None:
    with pytest.raises(PaymentNotConfirmable) as refused:
        plan_confirm(settled, None)
    assert refused.value.detail == f"The payment is {settled.status}; it cannot be confirmed."


def test_a_captured_payment_with_another_card_is_not_confirmed_again() -> None:
    with pytest.raises(PaymentNotConfirmable):
        plan_confirm(captured(), "pm_card_mastercard")


def test_a_payment_without_its_intent_cannot_be_confirmed() -> None:
    creating = payment(PaymentStatus.CREATING, provider_intent_id=None)
    with pytest.raises(StateRefusal, match="POST /payments/intents again"):
        plan_confirm(creating, "pm_card_visa")


def test_confirming_needs_a_payment_method_from_somewhere() -> None:
    with pytest.raises(InvalidRefusal) as refused:
        plan_confirm(payment(payment_method=None), None)
    assert refused.value.field == "body.payment_method"
    assert refused.value.message == "required: the payment has no payment method yet"
    assert plan_confirm(payment(payment_method=None), "pm_card_visa") == Confirm(
        "pi_1", "pm_card_visa", set_method_first=True
    )


def test_a_new_payment_method_is_set_at_stripe_before_confirming() -> None:
    assert plan_confirm(payment(), None) == Confirm("pi_1", "pm_card_visa", set_method_first=False)
    assert plan_confirm(payment(), "pm_card_visa") == Confirm(
        "pi_1", "pm_card_visa", set_method_first=False
    )
    assert plan_confirm(payment(), "pm_card_mastercard") == Confirm(
        "pi_1", "pm_card_mastercard", set_method_first=True
    )


def test_a_shopper_sees_their_own_payments_and_an_admin_every_one() -> None:
    assert seen_by(SHOPPER, is_admin=False) == SHOPPER
    assert seen_by("boss", is_admin=True) is None
    with pytest.raises(NotFoundRefusal, match="There is no payment 'p9'"):
        existing_payment(None, "p9")
