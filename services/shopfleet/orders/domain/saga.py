"""The saga's steps after placing: what payments, shipping, a cancel, the expiry and
catalog's stock answers do to an order.

Redelivered and out-of-order events are safe by construction: each decision reads the
order's status, and the transition table never moves an order back or out of an end.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal, cast

from shopfleet.kit.contracts import events as ev
from shopfleet.orders.domain.access import Caller
from shopfleet.orders.domain.order import (
    ENDED_STATUSES,
    MAX_NOTE,
    NOTHING,
    PAID_STATUSES,
    SHIPMENT_MOVES,
    SHIPPED_STATUSES,
    SYSTEM,
    Cause,
    Changes,
    Decision,
    OrderRecord,
    Status,
    Stock,
    line_payloads,
    may_cancel,
    may_transition,
    move,
    stock_after_end,
)
from shopfleet.orders.domain.refusals import OrderEnded, OrderNotCancellable

# ----------------------------------------------------------------------------- ending


def cancelled_event(order: OrderRecord, *, was_paid: bool, now: datetime) -> ev.OrderCancelled:
    """`order.cancelled` for an ended order (payments refunds it in full when `was_paid`)."""
    cancelled = ev.OrderCancelled(
        order_id=order.id,
        user_id=order.user_id,
        status=_ended_as(order.status),
        cause=cancel_cause(order.cancel_cause),
        reason=order.cancel_reason or "",
        was_paid=was_paid,
        lines=line_payloads(order),
        total=order.total,
        cancelled_at=now,
    )
    return cancelled


def _ended_as(status: Status) -> Literal["cancelled", "payment_failed"]:
    """`order.cancelled` tells a failed payment from every other end (a refund included)."""
    ended = Status.PAYMENT_FAILED if status == Status.PAYMENT_FAILED else Status.CANCELLED
    return cast(Literal["cancelled", "payment_failed"], ended.value)


def cancel_cause(cause: Cause | None) -> ev.CancelCause:
    """The contract's spelling; an order ended without a cause was ended by the shop."""
    return cast(ev.CancelCause, (cause or Cause.ADMIN).value)


def end(
    order: OrderRecord, target: Status, cause: Cause, now: datetime, *, actor: str, reason: str
) -> Decision:
    """Cancel (or fail) the order: its stock to be released, `order.cancelled` emitted."""
    note = reason
    if order.status in SHIPPED_STATUSES:
        note += " (the goods had shipped: restock a return by hand)"
    changes = Changes(
        stock=stock_after_end(order.status, order.stock),
        cancel_reason=reason,
        cancel_cause=cause,
        expires_at=None,
    )
    ended = replace(order, status=target, cancel_reason=reason, cancel_cause=cause)
    was_paid = order.status in PAID_STATUSES
    cancelled = cancelled_event(ended, was_paid=was_paid, now=now)
    return move(
        order, target, cause, now, actor=actor, note=note, changes=changes, then=(cancelled,)
    )


def decide_cancel(
    order: OrderRecord, caller: Caller, reason: str | None, now: datetime
) -> Decision:
    """A shopper cancels until the order ships, an admin at any time; never twice."""
    if order.status in ENDED_STATUSES:
        raise OrderEnded(f"The order is already {order.status.replace('_', ' ')}.")
    if not may_cancel(order.status, admin=caller.is_admin):
        raise OrderNotCancellable(
            f"The order is {order.status}; once shipped only the shop can cancel it. "
            "Contact the shop for a return."
        )
    by_shop = caller.is_admin and order.user_id != caller.user_id
    cause = Cause.ADMIN if by_shop else Cause.USER
    default = "cancelled by the shop" if by_shop else "cancelled by the shopper"
    return end(order, Status.CANCELLED, cause, now, actor=caller.user_id, reason=reason or default)


def decide_expiry(order: OrderRecord, payment_window: timedelta, now: datetime) -> Decision:
    """An order not paid within the payment window is cancelled by the platform."""
    minutes = max(1, int(payment_window.total_seconds() // 60))
    reason = f"not paid within {minutes} minutes"
    return end(order, Status.CANCELLED, Cause.EXPIRED, now, actor=SYSTEM, reason=reason)


# ----------------------------------------------------------------------------- payments


def decide_payment_succeeded(
    order: OrderRecord, payment: ev.PaymentSucceeded, now: datetime
) -> Decision:
    """Paid while awaiting payment: the order is paid, its stock to be committed. The same
    payment again changes nothing; a payment of an ended order is noted and refunded in
    full (`order.cancelled` again, `was_paid`); a second payment of a paid order is noted
    for the shop to refund (a double charge)."""
    if order.status == Status.PENDING_PAYMENT:
        return _paid(order, payment, now)
    if order.payment_id == payment.payment_id:
        return NOTHING  # this payment is already recorded
    if order.status in ENDED_STATUSES:
        note = (
            f"payment {payment.payment_id} of {payment.amount} succeeded after the order "
            f"was {order.status}; it is refunded in full"
        )
        refund = cancelled_event(order, was_paid=True, now=now)
        return Decision(
            cause=Cause.PAYMENT_LATE,
            note=note,
            changes=Changes(payment_id=payment.payment_id),
            events=(refund,),
        )
    note = f"a second payment {payment.payment_id} of {payment.amount} succeeded; refund it"
    return Decision(
        cause=Cause.PAYMENT_DUPLICATE, note=note, warning="second payment for a paid order"
    )


def _paid(order: OrderRecord, payment: ev.PaymentSucceeded, now: datetime) -> Decision:
    note = None
    if payment.amount != order.total:
        note = f"charged {payment.amount}, the order's total is {order.total}"
    stock = Stock.COMMIT_PENDING if order.stock == Stock.RESERVED else order.stock
    changes = Changes(
        stock=stock, payment_id=payment.payment_id, paid_at=payment.succeeded_at, expires_at=None
    )
    paid = ev.OrderPaid(
        order_id=order.id,
        user_id=order.user_id,
        payment_id=payment.payment_id,
        total=order.total,
        shipping_method_id=order.shipping_method_id,
        shipping_address=order.shipping_address,
        lines=line_payloads(order),
        paid_at=payment.succeeded_at,
    )
    return move(
        order,
        Status.PAID,
        Cause.PAYMENT_SUCCEEDED,
        now,
        note=note,
        changes=changes,
        then=(paid,),
    )


def decide_payment_failed(order: OrderRecord, failure: ev.PaymentFailed, now: datetime) -> Decision:
    """A failed attempt ends an unpaid order; after it was paid or ended, nothing."""
    if order.status != Status.PENDING_PAYMENT:
        return NOTHING
    reason = f"{failure.code}: {failure.message}"[:MAX_NOTE]
    return end(order, Status.PAYMENT_FAILED, Cause.PAYMENT_FAILED, now, actor=SYSTEM, reason=reason)


def decide_payment_refunded(
    order: OrderRecord, refund: ev.PaymentRefunded, now: datetime
) -> Decision:
    """A full refund ends the order as refunded (its stock back on sale unless shipped);
    a partial one, or one the table does not allow, is noted with the refunded total."""
    refunded = max(order.refunded_amount, refund.refunded_total.amount)
    note = f"refund {refund.refund_id}: {refund.amount} (refunded so far: {refund.refunded_total})"
    if refund.full and may_transition(order.status, Status.REFUNDED):
        changes = Changes(
            stock=stock_after_end(order.status, order.stock), refunded_amount=refunded
        )
        return move(order, Status.REFUNDED, Cause.PAYMENT_REFUNDED, now, note=note, changes=changes)
    return Decision(
        cause=Cause.PAYMENT_REFUNDED, note=note, changes=Changes(refunded_amount=refunded)
    )


# ----------------------------------------------------------------------------- shipping


def decide_shipment_created(
    order: OrderRecord, shipment: ev.ShipmentCreated, now: datetime
) -> Decision:
    """A paid order is being fulfilled; in any other status a shipment changes nothing."""
    if order.status != Status.PAID:
        return NOTHING
    note = f"shipment {shipment.shipment_id}"
    return move(order, Status.FULFILLING, Cause.SHIPMENT_CREATED, now, note=note)


def shipment_moves_orders(status: str) -> bool:
    """Does this shipment status move an order at all (before loading it)?"""
    return status in SHIPMENT_MOVES


def decide_shipment_status_changed(
    order: OrderRecord, change: ev.ShipmentStatusChanged, now: datetime
) -> Decision:
    """Forward only, and never out of an ended order: a late "shipped" after "delivered"
    (or after a cancel) changes nothing."""
    if change.status not in SHIPMENT_MOVES:
        return NOTHING
    target, cause = SHIPMENT_MOVES[change.status]
    if order.status in ENDED_STATUSES or not may_transition(order.status, target):
        return NOTHING
    tracking = " ".join(x for x in (change.carrier, change.tracking_number) if x)
    note = f"shipment {change.shipment_id}" + (f" ({tracking})" if tracking else "")
    return move(order, target, cause, now, note=note)


# ----------------------------------------------------------------------------- stock


def stock_call(stock: Stock | None) -> Stock | None:
    """What catalog must be told for this stock state: commit, release, or nothing."""
    return stock if stock in (Stock.COMMIT_PENDING, Stock.RELEASE_PENDING) else None


def stock_settled(pending: Stock, answer: str) -> Stock:
    """Where the stock stands once catalog answered the call `pending` made: `released`
    or `kept` to a release, `committed` or `not_reserved` to a commit. A paid order whose
    reservation was gone at commit has nothing left to commit: released."""
    if pending == Stock.COMMIT_PENDING and answer == "not_reserved":
        return Stock.RELEASED
    return Stock(answer)


def decide_stock_kept(order: OrderRecord) -> Decision:
    """Catalog kept units a release asked back: the shop restocks by hand."""
    return Decision(
        cause=Cause.STOCK_KEPT,
        note="the units had left the stock when the order was paid; catalog keeps them "
        "out (restock by hand if they come back)",
    )
