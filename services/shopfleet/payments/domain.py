"""Payments' rules, with no I/O and no HTTP: the states of a payment and its refunds, and
what to do about an order, a confirmation, a refund or what Stripe says of an intent.

Each decision is a function of what was loaded. It raises a refusal (a `kit.refusals`
kind) when a rule refuses, or returns what to change; a change names the statuses it may
move a payment from, and the store applies it only while the payment is still in one of
them, so a change decided on a row that moved meanwhile is not applied (the caller loads
again and decides again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shopfleet.kit.contracts.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
from shopfleet.kit.contracts.orders import PAYABLE_STATUSES, OrderSummary
from shopfleet.kit.money import Money, max_charge
from shopfleet.kit.refusals import InvalidRefusal, NotFoundRefusal, StateRefusal


class PaymentStatus(StrEnum):
    CREATING = "creating"  # our row exists; Stripe's intent not (yet) confirmed created
    PENDING = "pending"  # an intent waiting for its payment method or confirmation
    PROCESSING = "processing"  # confirmed, outcome not known yet (reconciler settles it)
    REQUIRES_ACTION = "requires_action"  # the card wants authentication (3-D Secure)
    SUCCEEDED = "succeeded"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    FAILED = "failed"  # declined or failed at Stripe
    CANCELED = "canceled"  # the order was cancelled before payment


OPEN = frozenset(
    {
        PaymentStatus.CREATING,
        PaymentStatus.PENDING,
        PaymentStatus.PROCESSING,
        PaymentStatus.REQUIRES_ACTION,
    }
)
CAPTURED = frozenset(
    {PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)
GIVEN_UP = frozenset({PaymentStatus.FAILED, PaymentStatus.CANCELED})

# Where a payment may go from each status. Money taken after we gave a payment up (its
# order cancelled or expired, or a retry in the browser after a decline) is captured, then
# refunded: that is the only way out of FAILED and CANCELED.
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    **{status: (OPEN | {PaymentStatus.SUCCEEDED} | GIVEN_UP) - {status} for status in OPEN},
    PaymentStatus.SUCCEEDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
    PaymentStatus.FAILED: frozenset({PaymentStatus.SUCCEEDED}),
    PaymentStatus.CANCELED: frozenset({PaymentStatus.SUCCEEDED}),
}


class RefundStatus(StrEnum):
    PENDING = "pending"  # amount reserved; Stripe's answer not known yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundReason(StrEnum):
    REQUESTED = "requested"  # an admin asked
    ORDER_CANCELLED = "order_cancelled"  # order.cancelled of a paid order


# ----------------------------------------------------------------------------- refusals


class OrderNotPayable(StateRefusal):
    default_slug = "order-not-payable"


class OrderTooLarge(StateRefusal):
    default_slug = "order-too-large"


class OrderTotalChanged(StateRefusal):
    default_slug = "order-total-changed"


class PaymentNotConfirmable(StateRefusal):
    default_slug = "payment-not-confirmable"


class PaymentNotRefundable(StateRefusal):
    default_slug = "payment-not-refundable"


class RefundExceedsCaptured(StateRefusal):
    default_slug = "refund-exceeds-captured"


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """A stored payment (one Stripe PaymentIntent)."""

    id: str
    shop: str
    order_id: str
    open_order_id: str | None
    user_id: str
    amount: int
    currency: str
    status: PaymentStatus
    provider_intent_id: str | None
    client_secret: str | None
    payment_method: str | None
    captured_amount: int
    refunded_amount: int
    refund_reserved: int
    failure_code: str | None
    failure_message: str | None
    check_after: datetime | None
    checks: int
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_captured(self) -> bool:
        return self.status in CAPTURED

    @property
    def intent_id(self) -> str:
        """Its Stripe intent's id: every payment has one once it is made (past CREATING)."""
        if self.provider_intent_id is None:
            raise LookupError(f"payment {self.id} has no Stripe intent yet")
        return self.provider_intent_id

    @property
    def refundable(self) -> int:
        """What is left to refund: captured, less refunded and held for refunds under way."""
        return self.captured_amount - self.refunded_amount - self.refund_reserved


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """A stored refund of a payment (its amount is held on the payment while pending)."""

    id: str
    shop: str
    payment_id: str
    amount: int
    currency: str
    status: RefundStatus
    reason: RefundReason
    provider_refund_id: str | None
    failure_message: str | None
    check_after: datetime | None
    created_at: datetime
    updated_at: datetime


# ----------------------------------------------------------------------------- Stripe's word


@dataclass(frozen=True, slots=True)
class IntentError:
    code: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class Intent:
    """What Stripe says of a PaymentIntent (the parts payments reads)."""

    id: str
    status: str | None
    amount: int | None = None
    amount_received: int | None = None
    error: IntentError | None = None  # its last_payment_error
    client_secret: str | None = None
    payment_method: str | None = None


@dataclass(frozen=True, slots=True)
class StripeRefund:
    """What Stripe says of a refund; `refund_id` is ours (None: made outside payments)."""

    id: str
    amount: int
    status: str | None
    refund_id: str | None


# ----------------------------------------------------------------------------- reads


def seen_by(user_id: str, *, is_admin: bool) -> str | None:
    """Whose payments a caller sees: a shopper their own, an Admin (None) every one."""
    return None if is_admin else user_id


def existing_payment(payment: PaymentRecord | None, payment_id: str) -> PaymentRecord:
    if payment is None:
        raise NotFoundRefusal(f"There is no payment '{payment_id}'.")
    return payment


# ----------------------------------------------------------------------------- intents


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


def unconfirmed(intent: Intent) -> bool:
    """Stripe has not confirmed the intent: a refused confirmation did change nothing."""
    return intent.status in ("requires_payment_method", "requires_confirmation")


# ----------------------------------------------------------------------------- settling


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


MAX_BACKOFF_S = 3600.0


def first_check_at(now: datetime, reconcile_after_s: float) -> datetime:
    """When the reconciler first asks Stripe about something unsettled changed `now`."""
    return now + timedelta(seconds=reconcile_after_s)


def recheck_delay_s(checks: int, reconcile_after_s: float) -> float:
    """How long until the reconciler asks Stripe again: doubling, at most an hour, ≥ 1 s."""
    return max(min(MAX_BACKOFF_S, reconcile_after_s * 2.0 ** min(checks, 16)), 1.0)


# ----------------------------------------------------------------------------- refunds


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
