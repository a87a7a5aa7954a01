"""A payment and its refunds as stored: their statuses, the moves a payment may make between
them, and the records the store loads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
