"""What Stripe's word on an intent changes of its payment (captured, failed, late, or
progress), and the events of a payment that succeeded or failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopfleet.kit.contracts.events import PaymentFailed, PaymentSucceeded
from shopfleet.kit.money import Money
from shopfleet.payments.domain.from_stripe import Intent, unconfirmed
from shopfleet.payments.domain.payment import (
    GIVEN_UP,
    OPEN,
    TRANSITIONS,
    PaymentRecord,
    PaymentStatus,
)


@dataclass(frozen=True, slots=True)
class Capture:
    """Stripe took `received`. `late`: we had given the payment up, so it is refunded."""

    received: int
    late: bool

    @property
    def sources(self) -> frozenset[PaymentStatus]:
        return GIVEN_UP if self.late else OPEN


@dataclass(frozen=True, slots=True)
class Fail:
    """The payment failed for good (declined, cancelled at Stripe, forgotten by Stripe)."""

    code: str
    message: str
    sources: frozenset[PaymentStatus] = OPEN


@dataclass(frozen=True, slots=True)
class Move:
    """An open payment's progress at Stripe (no money moved, no event)."""

    target: PaymentStatus
    sources: frozenset[PaymentStatus]


Change = Capture | Fail | Move


def settle_intent(payment: PaymentRecord, intent: Intent) -> Change | None:
    """What Stripe's word on the payment's intent changes; None: nothing (e.g. told twice)."""
    status = intent.status
    if status == "succeeded":
        if payment.is_captured:
            return None  # a duplicate: this capture is recorded already
        received = intent.amount_received or intent.amount or payment.amount
        return Capture(received, late=payment.status in GIVEN_UP)
    if status == "canceled":
        return fail(payment, "canceled", "The payment was cancelled at Stripe.")
    if status == "requires_payment_method" and intent.error is not None:
        code = intent.error.code or "payment_failed"
        return fail(payment, code, intent.error.message or "The payment failed.")
    if unconfirmed(intent):
        # Never confirmed at Stripe (a confirm that did not get through): confirm again.
        if payment.status is not PaymentStatus.PROCESSING:
            return None
        return Move(PaymentStatus.PENDING, frozenset({PaymentStatus.PROCESSING}))
    if status in ("processing", "requires_capture", "requires_action"):
        action = status == "requires_action"
        target = PaymentStatus.REQUIRES_ACTION if action else PaymentStatus.PROCESSING
        if target not in TRANSITIONS[payment.status]:
            return None  # there already, or settled
        return Move(target, OPEN - {target})
    return None


def fail(payment: PaymentRecord, code: str, message: str) -> Fail | None:
    """Only an open payment fails; a settled one stays as it is."""
    return Fail(code, message) if payment.is_open else None


def intent_refused(code: str, message: str) -> Fail:
    """Stripe refused to make the payment's intent: it failed (its order may try again)."""
    return Fail(code, message, sources=frozenset({PaymentStatus.CREATING}))


def forgotten_by_stripe(payment: PaymentRecord) -> Fail | None:
    """Stripe no longer knows the intent (an emulator restarted): it cannot be paid."""
    return fail(payment, "processing_error", "Stripe no longer knows this payment.")


def payment_succeeded(payment: PaymentRecord, received: int, at: datetime) -> PaymentSucceeded:
    return PaymentSucceeded(
        payment_id=payment.id,
        order_id=payment.order_id,
        user_id=payment.user_id,
        amount=Money(amount=received, currency=payment.currency),
        provider_ref=payment.intent_id,
        succeeded_at=at,
    )


def payment_failed(payment: PaymentRecord, failure: Fail, at: datetime) -> PaymentFailed:
    return PaymentFailed(
        payment_id=payment.id,
        order_id=payment.order_id,
        user_id=payment.user_id,
        amount=Money(amount=payment.amount, currency=payment.currency),
        code=failure.code,
        message=failure.message,
        failed_at=at,
    )
