"""A cart's lines and their limits: adding, setting a quantity, putting lines back.

Pure: a stored cart and catalog snapshots in, a new stored cart out, or a refusal that
says what the shopper should change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shopfleet.cart.domain.refusals import (
    CartFull,
    InsufficientStock,
    LineQuantityLimit,
    NotForSale,
    NotInCart,
    ProductUnavailable,
)
from shopfleet.cart.models import MAX_LINES, MAX_QUANTITY, StoredCart, StoredLine
from shopfleet.kit.contracts.catalog import ProductSnapshot, sellable


def add_line(
    cart: StoredCart,
    product_id: str,
    quantity: int,
    snapshot: ProductSnapshot | None,
    now: datetime,
) -> StoredCart:
    """Add `quantity` units (to the product's line if there is one) at today's price."""
    if not sellable(snapshot):
        raise NotForSale(
            f"Product '{product_id}' is not for sale in this shop (unknown, deleted or inactive).",
            "body.product_id",
        )
    assert snapshot is not None
    existing = cart.line(product_id)
    in_cart = existing.quantity if existing else 0
    if existing is None and len(cart.lines) >= MAX_LINES:
        raise CartFull(
            f"The cart holds at most {MAX_LINES} different products; remove one first.",
            "body.product_id",
            max_lines=MAX_LINES,
        )
    if in_cart + quantity > MAX_QUANTITY:
        raise LineQuantityLimit(
            f"At most {MAX_QUANTITY} units per product: the cart has {in_cart}, so add at most "
            f"{MAX_QUANTITY - in_cart}.",
            "body.quantity",
            max_quantity=MAX_QUANTITY,
            in_cart=in_cart,
        )
    _check_stock(snapshot, in_cart + quantity, in_cart, "body.quantity")
    # Adding again is done at today's price: the shopper has just seen it.
    line = StoredLine(
        product_id=product_id,
        quantity=in_cart + quantity,
        price_at_add=snapshot.price,
        added_at=existing.added_at if existing else now,
    )
    return _with_line(cart, line)


def set_quantity(
    cart: StoredCart, product_id: str, quantity: int, snapshot: ProductSnapshot | None
) -> StoredCart:
    existing = line_in(cart, product_id)
    if not sellable(snapshot):
        raise ProductUnavailable(
            f"Product '{product_id}' is no longer available; remove it with "
            f"DELETE /cart/items/{product_id}.",
            "path.product_id",
        )
    assert snapshot is not None
    _check_stock(snapshot, quantity, existing.quantity, "body.quantity")
    return _with_line(cart, existing.model_copy(update={"quantity": quantity}))


def put_back(cart: StoredCart, lines: Iterable[StoredLine]) -> tuple[StoredCart, list[StoredLine]]:
    """Merge `lines` into the cart: quantities of a product add up (at most 99); a new
    product takes a free line. Returns the cart and the lines that found no room."""
    merged = {line.product_id: line for line in cart.lines}
    leftovers: list[StoredLine] = []
    for line in lines:
        existing = merged.get(line.product_id)
        if existing is not None:
            total = min(existing.quantity + line.quantity, MAX_QUANTITY)
            merged[line.product_id] = existing.model_copy(update={"quantity": total})
        elif len(merged) < MAX_LINES:
            merged[line.product_id] = line.model_copy(
                update={"quantity": min(line.quantity, MAX_QUANTITY)}
            )
        else:
            leftovers.append(line)
    return with_lines(cart, list(merged.values())), leftovers


def line_in(cart: StoredCart, product_id: str) -> StoredLine:
    """The product's line; refused (naming the path) when the cart has none."""
    line = cart.line(product_id)
    if line is None:
        raise NotInCart(f"Product '{product_id}' is not in the cart.", "path.product_id")
    return line


def with_lines(cart: StoredCart, lines: list[StoredLine]) -> StoredCart:
    return cart.model_copy(update={"lines": lines})


def _with_line(cart: StoredCart, line: StoredLine) -> StoredCart:
    if cart.line(line.product_id) is None:
        return with_lines(cart, [*cart.lines, line])
    return with_lines(cart, [line if o.product_id == line.product_id else o for o in cart.lines])


def _check_stock(snapshot: ProductSnapshot, quantity: int, in_cart: int, field: str) -> None:
    available = max(snapshot.available, 0)
    if quantity <= available:
        return
    if available == 0:
        detail = f"'{snapshot.name}' is out of stock."
    else:
        detail = f"Only {available} of '{snapshot.name}' available; the cart would hold {quantity}."
    raise InsufficientStock(detail, field, available=available, in_cart=in_cart)
