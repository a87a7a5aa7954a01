"""The cart's side of the checkout saga, pure: what orders reads, what `order.placed`
takes out of a cart, and the lines of a cancelled order put back.

A late duplicate of an order (a retried `POST /orders` whose first attempt's order has
emptied the cart meanwhile) should meet that order, not an empty cart. So the
`order.placed` that empties a cart remembers the cart as it was (lines and version) and
the order; while the shopper leaves the cart as it is, orders reads that cart and that
order's id (`CartLines.ordered_by`) and answers as it would have before the cart emptied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from shopfleet.cart.domain.lines import put_back
from shopfleet.cart.domain.removed import remember_removed
from shopfleet.cart.models import (
    MAX_QUANTITY,
    OrderedCart,
    OrderLine,
    StoredCart,
    StoredLine,
    StoredOrderLines,
    StoredRemoved,
)
from shopfleet.kit.contracts.cart import CartLine, CartLines
from shopfleet.kit.contracts.catalog import Snapshots


class LineLike(Protocol):
    product_id: str
    quantity: int


def lines_for_orders(user_id: str, cart: StoredCart, etag: str | None) -> CartLines:
    """What orders reads to place an order: the cart's lines and version (its ETag), or,
    while the cart is as an order emptied it, the cart that order read and its id."""
    ordered = cart.ordered
    if ordered is not None and not cart.lines:
        lines = [_cart_line(line) for line in ordered.lines]
        return CartLines(
            user_id=user_id, lines=lines, version=ordered.version, ordered_by=ordered.order_id
        )
    return CartLines(user_id=user_id, lines=[_cart_line(line) for line in cart.lines], version=etag)


def _cart_line(line: StoredLine) -> CartLine:
    return CartLine(product_id=line.product_id, quantity=line.quantity)


def ordered_quantities(lines: Iterable[LineLike]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        counts[line.product_id] += line.quantity
    return counts


def take_ordered(cart: StoredCart, ordered: Counter[str]) -> StoredCart:
    """The cart less the ordered units: a line keeps what exceeds its ordered quantity
    (units added after ordering); a line ordered in full goes."""
    lines = []
    for line in cart.lines:
        left = line.quantity - ordered.get(line.product_id, 0)
        if left > 0:
            lines.append(
                line if left == line.quantity else line.model_copy(update={"quantity": left})
            )
    return cart.model_copy(update={"lines": lines})


def after_order_placed(
    cart: StoredCart, etag: str | None, order_id: str, ordered: Counter[str]
) -> StoredCart:
    """The cart once `order.placed` took the order's units out. If that empties it, it
    remembers what it was (`etag` is its version) and the order; if lines stay, there is
    something new to order and nothing to remember. An empty cart keeps what it had."""
    after = take_ordered(cart, ordered)
    if after.lines:
        return after.model_copy(update={"ordered": None})
    if not cart.lines or etag is None:
        return after
    remembered = OrderedCart(order_id=order_id, version=etag, lines=cart.lines)
    return after.model_copy(update={"ordered": remembered})


def order_lines(
    order_id: str, lines: Iterable[LineLike | Mapping[str, Any]], now: datetime
) -> StoredOrderLines:
    """A cancelled order's lines as kept for its shopper. Each line has `product_id`,
    `quantity` and optionally `unit_price` (Money): an object or a mapping. Raises a
    pydantic ValidationError (a ValueError) for a line that can never be stored."""
    parsed = [
        OrderLine.model_validate(line if isinstance(line, Mapping) else _line_fields(line))
        for line in lines
    ]
    return StoredOrderLines(order_id=order_id, lines=parsed, saved_at=now)


def _line_fields(line: LineLike) -> dict[str, Any]:
    fields: dict[str, Any] = {"product_id": line.product_id, "quantity": line.quantity}
    price = getattr(line, "unit_price", None)
    if price is not None:
        fields["unit_price"] = price
    return fields


def restore_order(
    cart: StoredCart,
    removed: StoredRemoved,
    order: StoredOrderLines,
    snapshots: Snapshots,
    now: datetime,
) -> tuple[StoredCart, StoredRemoved]:
    """Put a cancelled order's lines back; what finds no room goes to the removed lines."""
    lines = []
    for line in order.lines:
        snapshot = snapshots.get(line.product_id)
        price = line.unit_price or (snapshot.price if snapshot else None)
        lines.append(
            StoredLine(
                product_id=line.product_id,
                quantity=min(line.quantity, MAX_QUANTITY),
                price_at_add=price,
                added_at=now,
            )
        )
    restored, leftovers = put_back(cart, lines)
    return restored, remember_removed(removed, leftovers, now)
