"""What payments' rules refuse, one class per problem slug (the kit picks the status)."""

from __future__ import annotations

from shopfleet.kit.refusals import StateRefusal


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
