"""Refunds: how much one may take, what order.cancelled does to a payment (refund what was
captured, cancel what was not), and what Stripe's word on a refund changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopfleet.kit.contracts.events import PaymentRefunded
from shopfleet.kit.money import Money
from shopfleet.kit.refusals import InvalidRefusal
from shopfleet.payments.domain.from_stripe import StripeRefund
from shopfleet.payments.domain.payment import PaymentRecord, RefundRecord, RefundStatus
from shopfleet.payments.domain.refusals import PaymentNotRefundable, RefundExceedsCaptured


def check_refund_currency(payment: PaymentRecord, currency: str | None) -> None:
    if currency is not None and currency != payment.currency:
        raise InvalidRefusal("body.currency", f"must be the payment's currency, {payment.currency}")


def refund_amount(payment: PaymentRecord, amount: int | None) -> int:
    """What a new refund holds of the payment: `amount`, or (None) all that is left."""
    if not payment.is_captured:
        raise PaymentNotRefundable(
            f"The payment is {payment.status}: only a captured payment can be refunded."
        )
    left = payment.refundable
    if left <= 0:
        raise RefundExceedsCaptured(
            "The payment is refunded in full already (or its refunds are under way)."
        )
    wanted = left if amount is None else amount
    if wanted > left:
        raise RefundExceedsCaptured(
            f"At most {Money(amount=left, currency=payment.currency)} can still be refunded.",
            refundable=left,
        )
    return wanted


def refund_taken_meanwhile() -> RefundExceedsCaptured:
    """The store's guard found less left than `refund_amount` saw: a concurrent refund."""
    return RefundExceedsCaptured("Another refund took what was left of the payment.")


@dataclass(frozen=True, slots=True)
class RefundRest:
    """The order was cancelled after its payment: refund all that is left of it."""


@dataclass(frozen=True, slots=True)
class CancelOpen:
    """The order was cancelled before its payment: cancel the payment (and its intent)."""


def on_order_cancelled(
    payment: PaymentRecord, refunding_for_cancel: bool
) -> RefundRest | CancelOpen | None:
    """Refund a captured payment in full (once); cancel an open one; else nothing.

    `refunding_for_cancel`: the payment has a refund for the cancellation already (one
    that did not fail), so a second order.cancelled refunds nothing more.
    """
    if payment.is_captured:
        return RefundRest() if not refunding_for_cancel and payment.refundable > 0 else None
    return CancelOpen() if payment.is_open else None


def adopts_refund(refund: StripeRefund) -> bool:
    """A refund made at Stripe directly (e.g. its dashboard) is recorded once it succeeded."""
    return refund.status == "succeeded"


@dataclass(frozen=True, slots=True)
class RefundSucceeded:
    provider_id: str | None


@dataclass(frozen=True, slots=True)
class RefundFailed:
    provider_id: str | None
    message: str


@dataclass(frozen=True, slots=True)
class RefundUnderWay:
    """Stripe has the refund and has not settled it: remember its id."""

    provider_id: str


def settle_refund(
    refund: RefundRecord, provider_id: str | None, status: str | None, failure: str | None
) -> RefundSucceeded | RefundFailed | RefundUnderWay | None:
    """What Stripe's word on one of our refunds changes; None: nothing (e.g. told twice)."""
    if status in ("succeeded", "failed", "canceled"):
        if refund.status is not RefundStatus.PENDING:
            return None
        if status == "succeeded":
            return RefundSucceeded(provider_id)
        return RefundFailed(provider_id, failure or f"Stripe: {status}")
    if provider_id is not None and refund.provider_refund_id is None:
        return RefundUnderWay(provider_id)
    return None


def payment_refunded(refund: RefundRecord, payment: PaymentRecord, at: datetime) -> PaymentRefunded:
    """The event of a refund that succeeded, with the payment as it is after it."""
    return PaymentRefunded(
        payment_id=payment.id,
        order_id=payment.order_id,
        user_id=payment.user_id,
        refund_id=refund.id,
        amount=Money(amount=refund.amount, currency=refund.currency),
        refunded_total=Money(amount=payment.refunded_amount, currency=payment.currency),
        full=payment.refunded_amount >= payment.captured_amount,
        refunded_at=at,
    )
