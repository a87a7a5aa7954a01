"""Asking for an order's intent (make one, reuse the payment's, or follow a changed total)
and confirming it."""

from __future__ import annotations

from dataclasses import dataclass

from shopfleet.kit.contracts.orders import PAYABLE_STATUSES, OrderSummary
from shopfleet.kit.money import max_charge
from shopfleet.kit.refusals import InvalidRefusal, NotFoundRefusal
from shopfleet.payments.domain.payment import PaymentRecord, PaymentStatus
from shopfleet.payments.domain.refusals import (
    OrderNotPayable,
    OrderTooLarge,
    OrderTotalChanged,
    PaymentNotConfirmable,
)


def payable_order(
    order: OrderSummary | None, order_id: str, *, user_id: str, is_admin: bool
) -> OrderSummary:
    """The order, if the caller may pay it: its shopper or an Admin (others do not see it)."""
    if order is None or (order.user_id != user_id and not is_admin):
        raise NotFoundRefusal(f"There is no order '{order_id}'.")
    return order


@dataclass(frozen=True, slots=True)
class ReusePayment:
    """The order's payment exists and matches the order: answer with it."""

    payment_id: str


@dataclass(frozen=True, slots=True)
class FollowTotal:
    """The order's total changed while unpaid: the pending intent's amount follows it."""

    payment_id: str
    intent_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class MakeIntent:
    """Make the intent at Stripe, for `payment_id` (None: a new payment row first)."""

    payment_id: str | None


def plan_intent(
    order: OrderSummary, existing: PaymentRecord | None
) -> ReusePayment | FollowTotal | MakeIntent:
    """What asking for the order's intent means, given its open payment (if any)."""
    if existing is None or existing.status is PaymentStatus.CREATING:
        check_payable(order)
        return MakeIntent(existing.id if existing is not None else None)
    total = order.total
    if (existing.amount, existing.currency) == (total.amount, total.currency):
        return ReusePayment(existing.id)
    if existing.status is not PaymentStatus.PENDING or total.currency != existing.currency:
        raise OrderTotalChanged(
            f"The order's total changed to {total} after its payment became {existing.status}."
        )
    return FollowTotal(existing.id, existing.intent_id, total.amount)


def check_payable(order: OrderSummary) -> None:
    """Only an order waiting for payment, with something to pay that one charge can take."""
    order_id, total = order.order_id, order.total
    if order.status not in PAYABLE_STATUSES:
        raise OrderNotPayable(
            f"Order '{order_id}' is {order.status}: only an order waiting for payment can be paid."
        )
    if total.amount <= 0:
        raise OrderNotPayable(f"Order '{order_id}' has nothing to pay.")
    limit = max_charge(total.currency)
    if total.amount > limit.amount:  # an order placed before orders checked it: Stripe refuses
        raise OrderTooLarge(
            f"Order '{order_id}' totals {total}, more than one card payment can charge "
            f"({limit}); cancel it and order fewer units.",
            limit=limit.model_dump(mode="json"),
        )


@dataclass(frozen=True, slots=True)
class Confirm:
    """Confirm the intent with `payment_method` (set at Stripe first when it is new)."""

    intent_id: str
    payment_method: str
    set_method_first: bool


def plan_confirm(payment: PaymentRecord, payment_method: str | None) -> Confirm | None:
    """How to confirm the payment; None when it is confirmed already (same answer again)."""
    if payment.is_captured and payment_method in (None, payment.payment_method):
        return None
    if not payment.is_open:
        raise PaymentNotConfirmable(f"The payment is {payment.status}; it cannot be confirmed.")
    if payment.provider_intent_id is None:
        raise PaymentNotConfirmable(
            "The payment's intent is not made yet: POST /payments/intents again."
        )
    method = payment_method or payment.payment_method
    if method is None:
        raise InvalidRefusal(
            "body.payment_method", "required: the payment has no payment method yet"
        )
    changed = payment_method is not None and payment_method != payment.payment_method
    return Confirm(payment.provider_intent_id, method, set_method_first=changed)
