"""Placing an order and changing it before payment: the shopper's and the shop's limits,
the Idempotency-Key, a stock shortage, opening the order, re-quoting its shipping."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from pydantic import BaseModel

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.cart import CartLines
from shopfleet.kit.contracts.catalog import (
    ReservationLine,
    ReservationResult,
    ReservationShortage,
    ReserveRequest,
)
from shopfleet.kit.contracts.shipping import Address, Quote, QuoteLine, QuoteRequest
from shopfleet.kit.money import Money
from shopfleet.kit.quotas import seconds_to_utc_midnight
from shopfleet.kit.refusals import Refusal
from shopfleet.orders.domain import pricing
from shopfleet.orders.domain.order import (
    Cause,
    Changes,
    Decision,
    OrderLine,
    OrderRecord,
    ShippingChoice,
    Status,
    Stock,
    line_payloads,
    move,
)
from shopfleet.orders.domain.pricing import Priced
from shopfleet.orders.domain.refusals import (
    CartAlreadyOrdered,
    DailyQuotaExceeded,
    DependencyUnavailable,
    IdempotencyKeyReused,
    OrderChanged,
    OrderNotEditable,
    OutOfStock,
    TooManyUnpaidOrders,
)

# ----------------------------------------------------------------------------- placing


@dataclass(frozen=True, slots=True)
class Draft:
    """A cart priced, addressed and quoted: the order placing inserts (stock not reserved)."""

    shop: str
    user_id: str
    priced: Priced
    address: Address
    quote: Quote
    cart_version: str | None
    total: Money  # subtotal plus shipping (`pricing.total`: one currency, chargeable)
    ordered_by: str | None = None  # the order that emptied the cart (`CartLines.ordered_by`)

    def shipping(self) -> ShippingChoice:
        return shipping_choice(self.quote)

    def reservation(self) -> ReserveRequest:
        """What catalog reserves for the order: each line's product and quantity."""
        lines = [
            ReservationLine(product_id=line.product_id, quantity=line.quantity)
            for line in self.priced.lines
        ]
        return ReserveRequest(lines=lines)


def draft(
    shop: str,
    user_id: str,
    priced: Priced,
    address: Address,
    quote: Quote,
    version: str | None,
    *,
    ordered_by: str | None = None,
) -> Draft:
    """The order to place; refused if its total cannot be charged in one payment."""
    total = pricing.total(priced.subtotal, quote.cost)
    return Draft(shop, user_id, priced, address, quote, version, total, ordered_by)


def still_placing(order: OrderRecord | None) -> OrderRecord:
    """The order being placed; refused if it is gone or placed (the sweeper gave up on it)."""
    if order is None or order.status != Status.PLACING:
        raise placing_gone()
    return order


def placing_gone() -> DependencyUnavailable:
    """Why a placing cannot open: its row is gone (the sweeper gave up on it)."""
    return DependencyUnavailable("orders", "the order be placed")


def reservation_refused(result: ReservationResult, lines: Sequence[OrderLine]) -> Refusal | None:
    """Why catalog's answer to the reservation refuses the placing (None: reserved). A
    shortage names each short line; any other answer is catalog failing to do its part."""
    if result.status == "reserved":
        return None
    if result.status != "rejected":
        return DependencyUnavailable("catalog", "stock be reserved")
    return out_of_stock(result.shortages, lines)


def decide_open(order: OrderRecord, payment_window: timedelta, now: datetime) -> Decision:
    """Stock is reserved: the order awaits payment until the window closes; `order.placed`."""
    placed = ev.OrderPlaced(
        order_id=order.id,
        user_id=order.user_id,
        lines=line_payloads(order),
        subtotal=order.money(order.subtotal_amount),
        shipping=order.money(order.shipping_amount),
        total=order.total,
        shipping_method_id=order.shipping_method_id,
        placed_at=order.created_at,
    )
    changes = Changes(stock=Stock.RESERVED, expires_at=now + payment_window)
    return move(
        order,
        Status.PENDING_PAYMENT,
        Cause.PLACED,
        now,
        actor=order.user_id,
        changes=changes,
        then=(placed,),
    )


def placed_by_key(found: OrderRecord, request_hash: str | None) -> bool:
    """An order this Idempotency-Key placed: True once placed (answer it), False while it
    is still being placed; refused if the key was used for another request."""
    if found.request_hash != request_hash:
        raise IdempotencyKeyReused()
    return found.status != Status.PLACING


def out_of_stock(
    shortages: Sequence[ReservationShortage], lines: Sequence[OrderLine]
) -> OutOfStock:
    """Catalog could not reserve every line: name each short one and what is left."""
    names = {line.product_id: line.name for line in lines}
    short = [s.model_dump() | {"name": names.get(s.product_id)} for s in shortages]
    listed = "; ".join(
        f"{s['name']}: {s['requested']} wanted, {s['available']} available" for s in short
    )
    return OutOfStock(
        f"Not enough stock for: {listed}. Lower these quantities in your cart and "
        "place the order again.",
        shortages=short,
    )


# ----------------------------------------------------------------------------- re-quoting


def check_editable(order: OrderRecord) -> None:
    if order.status != Status.PENDING_PAYMENT:
        raise OrderNotEditable(
            f"The order is {order.status}; its address and shipping method can only "
            "change while it awaits payment."
        )


@dataclass(frozen=True, slots=True)
class Requote:
    """A new shipping quote for an unpaid order (to `address`), and the total it makes."""

    quote: Quote
    address: Address
    total: Money


def decide_requote(order: OrderRecord, requote: Requote, read_version: int, actor: str) -> Decision:
    """A new address and/or method, re-quoted while unpaid; refused if the order changed
    since it was read for the quote."""
    check_editable(order)
    if order.version != read_version:
        raise OrderChanged("The order changed while it was re-quoted; reload it and try again.")
    quote, total = requote.quote, requote.total
    changes = Changes(
        shipping_method_id=quote.method_id,
        shipping_method=shipping_choice(quote),
        shipping_address=requote.address,
        shipping_amount=quote.cost.amount,
        total_amount=total.amount,
    )
    note = f"shipping changed to {quote.method_name}; total {order.total} -> {total}"
    return Decision(cause=Cause.UPDATED, actor=actor, note=note, changes=changes)


def shipping_choice(quote: Quote) -> ShippingChoice:
    return ShippingChoice(
        method_id=quote.method_id,
        method_name=quote.method_name,
        carrier=quote.carrier,
        cost=quote.cost,
        estimated_days_min=quote.estimated_days_min,
        estimated_days_max=quote.estimated_days_max,
    )


def quote_request(method_id: str, address: Address, lines: Sequence[OrderLine]) -> QuoteRequest:
    quoted = [
        QuoteLine(
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            weight_grams=min(line.weight_grams, 1_000_000),
        )
        for line in lines
    ]
    return QuoteRequest(method_id=method_id, address=address, lines=quoted)


# ----------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One of a shopper's orders that holds stock without payment."""

    id: str
    status: Status
    cart_version: str | None
    idempotency_key: str | None


def check_daily_quota(used: int, limit: int, now: datetime) -> None:
    """Refuse an order beyond `quotas.ordersPerDay`: `used` counts today's orders (UTC,
    those being placed included); retry when the day ends in UTC."""
    if used < limit:
        return
    wait_s = seconds_to_utc_midnight(now)
    raise DailyQuotaExceeded(
        f"This shop has taken {used} orders today and its quota (quotas.ordersPerDay) "
        f"allows {limit} per day; the day ends at midnight UTC, in {wait_s} s.",
        retry_after_s=wait_s,
        quota="ordersPerDay",
        limit=limit,
        used=used,
    )


def may_place(
    open_now: Sequence[OpenOrder],
    *,
    cart_version: str | None,
    key: str | None,
    cap: int,
    ordered_by: str | None = None,
) -> bool:
    """May the shopper place from this version of the cart? False: an order with this
    Idempotency-Key was placed meanwhile (answer it). Refused when this version of the
    cart is ordered already, or the shopper has `cap` orders open.

    A cart that an order emptied (`ordered_by`, the shopper has not changed it since) is
    never placed again: while that order is open, the answer names it as before the cart
    emptied; once it is paid or ended, the cart is empty."""
    if key is not None and any(order.idempotency_key == key for order in open_now):
        return False
    if ordered_by is not None:
        emptied_by = next((order for order in open_now if order.id == ordered_by), None)
        if emptied_by is not None:
            raise _cart_already_ordered(emptied_by)
        raise pricing.cart_empty()  # that order is paid or ended: nothing is left to order
    for order in open_now:
        if cart_version is not None and order.cart_version == cart_version:
            raise _cart_already_ordered(order)
    if len(open_now) >= cap:
        raise TooManyUnpaidOrders(
            f"You have {len(open_now)} orders awaiting payment, the most this shop allows at "
            f"once ({cap}). Pay or cancel one of them (GET /orders?status=pending_payment) "
            "before placing another.",
            open_orders=[order.id for order in open_now if order.status != Status.PLACING],
            limit=cap,
        )
    return True


def _cart_already_ordered(order: OpenOrder) -> CartAlreadyOrdered:
    being_placed = order.status == Status.PLACING
    being = "is being placed" if being_placed else "awaits payment"
    return CartAlreadyOrdered(
        f"Your cart, as it is now, is already ordered: order {order.id} {being}. Pay or "
        "cancel that order; to order something else, change your cart first.",
        order_id=order.id,
        being_placed=being_placed,
    )


def cart_version(cart: CartLines) -> str | None:
    """The cart as it was read: its ETag and its lines (a store whose ETags restart when a
    key is re-created cannot make two different carts look alike). None: no version."""
    if cart.version is None:
        return None
    lines = sorted((line.product_id, line.quantity) for line in cart.lines)
    return hashlib.sha256(orjson.dumps([cart.version, lines])).hexdigest()


def request_hash(body: BaseModel) -> str:
    """The request an Idempotency-Key was first used for (key order does not matter)."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
