"""What a shopper is told about each event: pure, from the event's payload to a draft.

Told: an order placed, paid, cancelled (and why; a refund when it was paid), a payment that
failed, each refund, a shipment shipped and delivered. Not told (noise): a shipment
created (the "paid" message says it is being prepared) and its other status changes.

Each draft carries a `dedupe_key` naming the fact it tells: a declined card arrives as
`payment.failed` and as `order.cancelled` (status payment_failed), and the shopper hears
of it once, from whichever came first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shopfleet.kit.contracts.events import (
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    PaymentFailed,
    PaymentRefunded,
    ShipmentStatusChanged,
)
from shopfleet.kit.contracts.topics import EventPayload

MAX_TITLE = 200
MAX_MESSAGE = 2000


class Kind(StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_PAID = "order_paid"
    ORDER_CANCELLED = "order_cancelled"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REFUNDED = "payment_refunded"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"


@dataclass(frozen=True, slots=True)
class Draft:
    user_id: str
    kind: Kind
    title: str
    message: str
    order_id: str | None
    dedupe_key: str


def order_ref(order_id: str) -> str:
    """How a message names an order: its id's first 8 characters, as on a receipt."""
    return order_id[:8].upper()


def _draft(kind: Kind, user_id: str, order_id: str, key: str, title: str, message: str) -> Draft:
    return Draft(
        user_id=user_id,
        kind=kind,
        title=title[:MAX_TITLE],
        message=message[:MAX_MESSAGE],
        order_id=order_id,
        dedupe_key=f"{kind}:{key}",
    )


def compose(payload: EventPayload) -> Draft | None:
    """The notification an event's payload makes, or None when the shopper is not told."""
    match payload:
        case OrderPlaced():
            ref = order_ref(payload.order_id)
            items = sum(line.quantity for line in payload.lines)
            return _draft(
                Kind.ORDER_PLACED,
                payload.user_id,
                payload.order_id,
                payload.order_id,
                f"Order {ref} received",
                f"Thank you for your order {ref}: {items} item{'s' if items != 1 else ''}, "
                f"{payload.total} in total (shipping {payload.shipping}). We will tell you "
                "when your payment has arrived.",
            )
        case OrderPaid():
            ref = order_ref(payload.order_id)
            return _draft(
                Kind.ORDER_PAID,
                payload.user_id,
                payload.order_id,
                payload.order_id,
                f"Payment received for order {ref}",
                f"We received your payment of {payload.total} for order {ref}. "
                "We are preparing your shipment.",
            )
        case OrderCancelled(status="payment_failed"):
            ref = order_ref(payload.order_id)
            return _draft(
                Kind.PAYMENT_FAILED,
                payload.user_id,
                payload.order_id,
                payload.order_id,
                f"Payment failed for order {ref}",
                f"The payment of {payload.total} for order {ref} failed, so the order is "
                "cancelled. You can put its items back into your cart.",
            )
        case OrderCancelled():
            return _cancelled(payload)
        case PaymentFailed():
            ref = order_ref(payload.order_id)
            return _draft(
                Kind.PAYMENT_FAILED,
                payload.user_id,
                payload.order_id,
                payload.order_id,
                f"Payment failed for order {ref}",
                f"The payment of {payload.amount} for order {ref} failed: "
                f"{payload.message.rstrip('.')}.",
            )
        case PaymentRefunded():
            ref = order_ref(payload.order_id)
            so_far = (
                "the full amount" if payload.full else f"{payload.refunded_total} refunded so far"
            )
            return _draft(
                Kind.PAYMENT_REFUNDED,
                payload.user_id,
                payload.order_id,
                payload.refund_id,
                f"Refund of {payload.amount} for order {ref}",
                f"We refunded {payload.amount} for order {ref} ({so_far}). It reaches your "
                "account in a few days, depending on your bank.",
            )
        case ShipmentStatusChanged(status="shipped"):
            ref = order_ref(payload.order_id)
            return _draft(
                Kind.ORDER_SHIPPED,
                payload.user_id,
                payload.order_id,
                payload.shipment_id,
                f"Order {ref} is on its way",
                f"Order {ref} has shipped{_tracking(payload)}.",
            )
        case ShipmentStatusChanged(status="delivered"):
            ref = order_ref(payload.order_id)
            return _draft(
                Kind.ORDER_DELIVERED,
                payload.user_id,
                payload.order_id,
                payload.shipment_id,
                f"Order {ref} was delivered",
                f"Order {ref} was delivered. We hope you enjoy it!",
            )
    return None  # shipment.created, other shipment statuses: noise for the shopper


_CAUSES = {
    "user": "You cancelled order {ref}.",
    "admin": "The shop cancelled order {ref}.",
    "expired": "Order {ref} was cancelled because it was not paid in time.",
}


def _cancelled(payload: OrderCancelled) -> Draft:
    ref = order_ref(payload.order_id)
    parts = [_CAUSES.get(payload.cause, "Order {ref} was cancelled.").format(ref=ref)]
    if payload.reason and payload.cause == "admin":
        parts.append(f"Reason: {payload.reason.rstrip('.')}.")
    if payload.was_paid:
        parts.append(f"Your payment of {payload.total} will be refunded in full.")
    parts.append("You can put its items back into your cart.")
    return _draft(
        Kind.ORDER_CANCELLED,
        payload.user_id,
        payload.order_id,
        payload.order_id,
        f"Order {ref} cancelled",
        " ".join(parts),
    )


def _tracking(payload: ShipmentStatusChanged) -> str:
    if payload.carrier and payload.tracking_number:
        return f" with {payload.carrier}, tracking number {payload.tracking_number}"
    if payload.carrier:
        return f" with {payload.carrier}"
    if payload.tracking_number:
        return f", tracking number {payload.tracking_number}"
    return ""
