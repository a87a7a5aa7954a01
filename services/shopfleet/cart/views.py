"""What the shopper sees: stored lines priced with catalog snapshots of today.

Pure. A line catalog does not know (or no longer sells) is shown, flagged unavailable; the
subtotal counts only the lines that can be ordered as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shopfleet.cart.models import (
    CartLinePublic,
    CartPublic,
    RemovedLinePublic,
    RemovedLinesPublic,
    StoredCart,
    StoredLine,
    StoredRemoved,
)
from shopfleet.cart.shopper import Shopper
from shopfleet.kit.contracts.catalog import ProductSnapshot, Snapshots, sellable
from shopfleet.kit.money import Money


@dataclass(frozen=True, slots=True)
class CartView:
    """A rendered cart and the ETag of the stored cart it shows (None: not stored)."""

    cart: CartPublic
    etag: str | None


def _total(price: Money, quantity: int) -> Money:
    # Built without validation: an extreme price × 99 may pass Money's upper bound.
    return Money.model_construct(amount=price.amount * quantity, currency=price.currency)


def render_line(line: StoredLine, snapshot: ProductSnapshot | None) -> CartLinePublic:
    unavailable = not sellable(snapshot)
    available = 0 if unavailable or snapshot is None else max(snapshot.available, 0)
    price = snapshot.price if snapshot is not None else None
    return CartLinePublic(
        product_id=line.product_id,
        name=snapshot.name if snapshot else None,
        slug=snapshot.slug if snapshot else None,
        sku=snapshot.sku if snapshot else None,
        image_url=snapshot.image_url if snapshot else None,
        quantity=line.quantity,
        unit_price=price,
        price_when_added=line.price_at_add,
        line_total=None if unavailable or price is None else _total(price, line.quantity),
        available=available,
        price_changed=(
            price is not None and line.price_at_add is not None and price != line.price_at_add
        ),
        out_of_stock=not unavailable and available == 0,
        insufficient_stock=not unavailable and 0 < available < line.quantity,
        unavailable=unavailable,
        added_at=line.added_at,
    )


def render_cart(
    cart: StoredCart,
    snapshots: Snapshots,
    *,
    owner: Literal["user", "anonymous"],
    cart_id: str | None,
    expires_at: datetime | None,
    merged_cart_id: str | None = None,
) -> CartPublic:
    lines = [render_line(line, snapshots.get(line.product_id)) for line in cart.lines]
    currency = next((s.price.currency for s in snapshots.values()), None)
    orderable = [
        line
        for line in lines
        if not (line.unavailable or line.out_of_stock or line.insufficient_stock)
        and line.line_total is not None
        and line.line_total.currency == currency
    ]
    subtotal = None
    if currency is not None:
        amount = sum(line.line_total.amount for line in orderable if line.line_total)
        subtotal = Money.model_construct(amount=amount, currency=currency)
    return CartPublic(
        owner=owner,
        cart_id=cart_id,
        lines=lines,
        line_count=len(lines),
        item_count=sum(line.quantity for line in lines),
        subtotal=subtotal,
        ready_for_checkout=bool(lines) and len(orderable) == len(lines),
        merged_cart_id=merged_cart_id,
        updated_at=cart.updated_at,
        expires_at=expires_at,
    )


def render_for(
    who: Shopper,
    cart: StoredCart,
    snapshots: Snapshots,
    *,
    expires_at: datetime | None,
    merged_cart_id: str | None = None,
) -> CartPublic:
    """`render_cart` for `who`: only an anonymous shopper's cart shows its id."""
    return render_cart(
        cart,
        snapshots,
        owner="user" if who.user_id else "anonymous",
        cart_id=None if who.user_id else who.cart_id,
        expires_at=expires_at,
        merged_cart_id=merged_cart_id,
    )


def render_removed(removed: StoredRemoved, snapshots: Snapshots, ttl_s: int) -> RemovedLinesPublic:
    items = []
    for line in removed.lines:
        snapshot = snapshots.get(line.product_id)
        items.append(
            RemovedLinePublic(
                product_id=line.product_id,
                name=snapshot.name if snapshot else None,
                quantity=line.quantity,
                unit_price=snapshot.price if snapshot else None,
                price_when_added=line.price_at_add,
                unavailable=not sellable(snapshot),
                removed_at=line.removed_at,
                restorable_until=line.removed_at + timedelta(seconds=ttl_s),
            )
        )
    return RemovedLinesPublic(items=items)
