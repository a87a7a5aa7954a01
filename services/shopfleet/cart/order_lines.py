"""A cancelled order's lines: kept for its shopper, then put back into the cart."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from shopfleet.cart.keys import CartRef
from shopfleet.cart.lines import put_back
from shopfleet.cart.models import (
    MAX_QUANTITY,
    OrderLine,
    StoredCart,
    StoredLine,
    StoredOrderLines,
    StoredRemoved,
)
from shopfleet.cart.removed import remember_removed
from shopfleet.cart.settings import ORDER_LINES_TTL_S
from shopfleet.kit.blocks import StateOp, StateStore
from shopfleet.kit.contracts.catalog import Snapshots
from shopfleet.kit.contracts.ids import REFERENCE_PATTERN


class LineLike(Protocol):
    product_id: str
    quantity: int


async def remember_order_lines(
    store: StateStore,
    shop: str,
    user_id: str,
    order_id: str,
    lines: Iterable[LineLike | Mapping[str, Any]],
    *,
    ttl_s: int = ORDER_LINES_TTL_S,
    clock: Callable[[], float] | None = None,
) -> None:
    """Keep a cancelled order's lines so that its shopper can put them back into the cart
    (`POST /cart/restore {"order_id": ...}`), for `ttl_s` (CartSettings.order_lines_ttl_s).

    For the checkout's event handler (order cancelled, payment failed). Each line has
    `product_id`, `quantity` and optionally `unit_price` (Money): an object or a mapping.
    Saving the same order again replaces its lines; the handler's inbox keeps a redelivered
    event from bringing back lines the shopper already restored. Raises ValueError (a
    pydantic ValidationError for a bad line) for input that can never be stored: DROP it.
    """
    op = order_lines_op(shop, user_id, order_id, lines, ttl_s=ttl_s, clock=clock)
    await store.save(op.key, op.value, ttl_s=op.ttl_s)


def order_lines_op(
    shop: str,
    user_id: str,
    order_id: str,
    lines: Iterable[LineLike | Mapping[str, Any]],
    *,
    ttl_s: int = ORDER_LINES_TTL_S,
    clock: Callable[[], float] | None = None,
) -> StateOp:
    """The state-store write of `remember_order_lines`, to put in a transaction with
    other ops (e.g. the handler's inbox mark). Raises as `remember_order_lines` does."""
    if not re.fullmatch(REFERENCE_PATTERN, order_id):
        raise ValueError(f"order id {order_id!r} does not match {REFERENCE_PATTERN}")
    now = datetime.fromtimestamp(clock(), UTC) if clock else datetime.now(UTC)
    parsed = [
        OrderLine.model_validate(line if isinstance(line, Mapping) else _line_fields(line))
        for line in lines
    ]
    doc = StoredOrderLines(order_id=order_id, lines=parsed, saved_at=now)
    ref = CartRef.user(shop, user_id)
    return StateOp.upsert(ref.order_key(order_id), doc.model_dump(mode="json"), ttl_s=ttl_s)


def _line_fields(line: LineLike) -> dict[str, Any]:
    fields = {"product_id": line.product_id, "quantity": line.quantity}
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
