"""Who may read an order (a shopper, an admin, payments), and whose orders a list shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.money import Money
from shopfleet.orders.domain.order import OrderRecord, Status, public_status
from shopfleet.orders.domain.refusals import OrderNotFound, OthersOrdersForbidden


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: a shopper, or a shop admin."""

    user_id: str
    is_admin: bool


def visible(order: OrderRecord | None, caller: Caller, order_id: str) -> OrderRecord:
    """The order, if the caller may see it: their own, or any for an admin."""
    check_visible(None if order is None else order.user_id, caller, order_id)
    assert order is not None
    return order


def check_visible(owner: str | None, caller: Caller, order_id: str) -> None:
    """Refused unless the order exists (`owner`: its user) and the caller may see it."""
    if owner is None or not (caller.is_admin or owner == caller.user_id):
        raise OrderNotFound(f"You have no order '{order_id}' in this shop.")


@dataclass(frozen=True, slots=True)
class OrderHeadline:
    """What payments reads of an order (a few columns, on the fast read path)."""

    id: str
    user_id: str
    status: Status
    total: Money
    placed_at: datetime
    expires_at: datetime | None


def summary_for_payments(order: OrderHeadline | None, shop: str, order_id: str) -> OrderSummary:
    """What payments needs to charge the order (any order of the shop: a service asks);
    when it expires only while it awaits payment."""
    if order is None:
        raise OrderNotFound(f"No order '{order_id}' in shop '{shop}'.")
    unpaid = order.status == Status.PENDING_PAYMENT
    return OrderSummary(
        order_id=order.id,
        user_id=order.user_id,
        status=public_status(order.status),
        total=order.total,
        placed_at=order.placed_at,
        expires_at=order.expires_at if unpaid else None,
    )


def listed_user(caller: Caller, user: str | None) -> str | None:
    """Whose orders a list shows: a shopper's own; an admin's choice (None: everyone's)."""
    if caller.is_admin:
        return user
    if user is not None and user != caller.user_id:
        raise OthersOrdersForbidden("Only a shop Admin may list other users' orders.")
    return caller.user_id


# ----------------------------------------------------------------------------- lists
