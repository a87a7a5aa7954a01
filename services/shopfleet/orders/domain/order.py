"""The order: its statuses, the one table of moves, the order as stored, and what a
decision answers (`Decision`: the move or note to store, the events to publish with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TypedDict, cast

from pydantic import BaseModel, Field

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.orders import OrderStatus
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.money import Money
from shopfleet.orders.domain.refusals import TransitionRefused

SYSTEM = "system"  # the actor of what nobody asked for (events, expiry)
MAX_NOTE = 500  # history notes and cancel reasons (the columns' size)


class Status(StrEnum):
    """An order's status; the values are the contract's (`kit.contracts.orders`)."""

    PLACING = "placing"  # internal: the row exists, its stock is being reserved; never shown
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLING = "fulfilling"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    PAYMENT_FAILED = "payment_failed"
    REFUNDED = "refunded"


class Stock(StrEnum):
    """Where the order's stock reservation at catalog stands."""

    NONE = "none"  # nothing reserved yet (placing)
    RESERVED = "reserved"  # held for the order
    COMMIT_PENDING = "commit_pending"  # paid: catalog must still be told to commit
    COMMITTED = "committed"  # the units left with the order
    RELEASE_PENDING = "release_pending"  # ended: catalog must still be told to release
    RELEASED = "released"  # for sale again
    KEPT = "kept"  # ended after the commit: catalog keeps committed units (no restock)


class Cause(StrEnum):
    """Why a history row was written (the `cause` of history and `order.status_changed`)."""

    PLACED = "placed"
    UPDATED = "updated"
    USER = "user"  # cancelled by the shopper
    ADMIN = "admin"  # cancelled by the shop
    EXPIRED = "expired"  # not paid in time
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_LATE = "payment.late"  # paid after the order ended: refunded in full
    PAYMENT_DUPLICATE = "payment.duplicate"  # a second payment of a paid order
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REFUNDED = "payment.refunded"
    SHIPMENT_CREATED = "shipment.created"
    SHIPMENT_SHIPPED = "shipment.shipped"
    SHIPMENT_IN_TRANSIT = "shipment.in_transit"
    SHIPMENT_DELIVERED = "shipment.delivered"
    STOCK_KEPT = "stock.kept"


# The one table of allowed status moves.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PLACING: frozenset({Status.PENDING_PAYMENT}),
    Status.PENDING_PAYMENT: frozenset({Status.PAID, Status.CANCELLED, Status.PAYMENT_FAILED}),
    Status.PAID: frozenset(
        {Status.FULFILLING, Status.SHIPPED, Status.DELIVERED, Status.CANCELLED, Status.REFUNDED}
    ),
    Status.FULFILLING: frozenset(
        {Status.SHIPPED, Status.DELIVERED, Status.CANCELLED, Status.REFUNDED}
    ),
    Status.SHIPPED: frozenset({Status.DELIVERED, Status.CANCELLED, Status.REFUNDED}),
    Status.DELIVERED: frozenset({Status.CANCELLED, Status.REFUNDED}),
    Status.CANCELLED: frozenset({Status.REFUNDED}),  # paid, cancelled, then refunded in full
    Status.PAYMENT_FAILED: frozenset({Status.REFUNDED}),  # a late payment, refunded
    Status.REFUNDED: frozenset(),
}
PAID_STATUSES = frozenset({Status.PAID, Status.FULFILLING, Status.SHIPPED, Status.DELIVERED})
SHIPPED_STATUSES = frozenset({Status.SHIPPED, Status.DELIVERED})  # the goods left the warehouse
ENDED_STATUSES = frozenset({Status.CANCELLED, Status.PAYMENT_FAILED, Status.REFUNDED})
# Orders that hold stock without payment (one per cart version, a few per shopper).
OPEN_STATUSES = (Status.PLACING, Status.PENDING_PAYMENT)
# Who may cancel from which status: a shopper until the order ships, an admin always.
USER_CANCELLABLE = frozenset({Status.PENDING_PAYMENT, Status.PAID, Status.FULFILLING})
ADMIN_CANCELLABLE = USER_CANCELLABLE | SHIPPED_STATUSES
# Shipping's statuses that move the order (forward only: the table forbids going back).
SHIPMENT_MOVES: dict[str, tuple[Status, Cause]] = {
    "shipped": (Status.SHIPPED, Cause.SHIPMENT_SHIPPED),
    "in_transit": (Status.SHIPPED, Cause.SHIPMENT_IN_TRANSIT),
    "delivered": (Status.DELIVERED, Cause.SHIPMENT_DELIVERED),
}


def may_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def may_cancel(status: Status, *, admin: bool) -> bool:
    return status in (ADMIN_CANCELLABLE if admin else USER_CANCELLABLE)


def stock_after_end(status: Status, stock: Stock) -> Stock:
    """Where the stock of an order that ends (cancelled, failed, refunded) in `status`
    goes: back on sale while the goods are in the warehouse (catalog's release frees
    reserved units and puts committed ones back on hand); once shipped, they stay out (a
    return is restocked by hand) and a pending commit still happens."""
    if status in SHIPPED_STATUSES:
        return stock
    if stock in (Stock.RESERVED, Stock.COMMIT_PENDING, Stock.COMMITTED):
        return Stock.RELEASE_PENDING
    return stock


def public_status(status: Status) -> OrderStatus:
    """The contract's spelling of a shown status (`placing` is never shown)."""
    return cast(OrderStatus, status.value)


# ----------------------------------------------------------------------------- the order


class OrderLine(BaseModel):
    product_id: str
    name: str
    sku: str
    quantity: int
    unit_price: Money = Field(description="The catalog's price when the order was placed.")
    line_total: Money
    weight_grams: int = 0


class ShippingChoice(BaseModel):
    method_id: str
    method_name: str
    carrier: str
    cost: Money
    estimated_days_min: int
    estimated_days_max: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """The order as stored (one `orders` row): what decisions read."""

    id: str
    shop: str
    user_id: str
    status: Status
    stock: Stock
    currency: str
    subtotal_amount: int
    shipping_amount: int
    total_amount: int
    refunded_amount: int
    lines: tuple[OrderLine, ...]
    shipping_method_id: str
    shipping_method: ShippingChoice
    shipping_address: Address
    request_hash: str | None
    payment_id: str | None
    cancel_reason: str | None
    cancel_cause: Cause | None
    version: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    paid_at: datetime | None

    def money(self, amount: int) -> Money:
        return Money(amount=amount, currency=self.currency)

    @property
    def total(self) -> Money:
        return self.money(self.total_amount)


class Changes(TypedDict, total=False):
    """Columns a decision sets besides the status (the store bumps version and time)."""

    stock: Stock
    payment_id: str
    paid_at: datetime
    expires_at: datetime | None
    cancel_reason: str
    cancel_cause: Cause
    refunded_amount: int
    shipping_method_id: str
    shipping_method: ShippingChoice
    shipping_address: Address
    shipping_amount: int
    total_amount: int


# What orders publishes with a change; each payload model has its one topic (the store
# puts each on its topic, into the outbox, in the change's transaction).
OrderEvent = ev.OrderPlaced | ev.OrderPaid | ev.OrderCancelled | ev.OrderStatusChanged


@dataclass(frozen=True, slots=True)
class Decision:
    """What one step does to one order. `cause` None: nothing at all (`NOTHING`).

    With a `target`, the status moves through `TRANSITIONS` (conditional on the status and
    version the decision read); without, the status stays and `changes`, if any, are
    written. Either way one history row (`cause`, `actor`, `note`) and `events`.
    """

    cause: Cause | None = None
    target: Status | None = None
    actor: str = SYSTEM
    note: str | None = None
    changes: Changes = field(default_factory=Changes)
    events: tuple[OrderEvent, ...] = ()
    warning: str | None = None  # to log: something a person must look at (a double charge)

    def applied_to(self, order: OrderRecord, now: datetime) -> OrderRecord:
        """The order as it is once stored (version and time as the store writes them)."""
        if self.cause is None or (self.target is None and not self.changes):
            return order  # nothing but a history row
        status = self.target or order.status
        return replace(
            order, status=status, version=order.version + 1, updated_at=now, **self.changes
        )


NOTHING = Decision()


def move(
    order: OrderRecord,
    target: Status,
    cause: Cause,
    now: datetime,
    *,
    actor: str = SYSTEM,
    note: str | None = None,
    changes: Changes | None = None,
    then: tuple[OrderEvent, ...] = (),
) -> Decision:
    """A status move the table allows (refused otherwise), announced as
    `order.status_changed` before the events of `then`."""
    if not may_transition(order.status, target):
        raise TransitionRefused(f"An order that is {order.status} cannot become {target}.")
    changed = ev.OrderStatusChanged(
        order_id=order.id,
        user_id=order.user_id,
        status=public_status(target),
        previous=None if order.status == Status.PLACING else public_status(order.status),
        cause=cause.value,
        total=order.total,
        changed_at=now,
    )
    return Decision(
        cause=cause,
        target=target,
        actor=actor,
        note=note,
        changes=changes or Changes(),
        events=(changed, *then),
    )


def line_payloads(order: OrderRecord) -> list[ev.OrderLinePayload]:
    return [
        ev.OrderLinePayload(
            product_id=line.product_id,
            name=line.name,
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for line in order.lines
    ]
