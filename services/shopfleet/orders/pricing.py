"""Pricing a cart into an order's lines: catalog's prices, never the client's. Pure logic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shopfleet.kit.contracts.cart import CartLine
from shopfleet.kit.contracts.catalog import MAX_LINE_QUANTITY, ProductSnapshot
from shopfleet.kit.errors import Conflict, Problem
from shopfleet.kit.money import Money, max_charge
from shopfleet.orders.models import OrderLine

MAX_LINES = 100  # what one reservation may hold


@dataclass(frozen=True)
class Priced:
    lines: list[OrderLine]
    subtotal: Money

    @property
    def currency(self) -> str:
        return self.subtotal.currency


def merge(lines: Iterable[CartLine]) -> dict[str, int]:
    """Quantities per product, in the cart's order."""
    total: Counter[str] = Counter()
    for line in lines:
        total[line.product_id] += line.quantity
    return dict(total)


def check_cart(quantities: Mapping[str, int]) -> None:
    if not quantities:
        raise Conflict(
            "Your cart is empty; add products to it before placing an order.", slug="cart-empty"
        )
    if len(quantities) > MAX_LINES:
        raise Conflict(
            f"An order holds at most {MAX_LINES} different products; your cart has "
            f"{len(quantities)}. Remove some and place the rest as another order.",
            slug="too-many-lines",
        )
    too_many = [pid for pid, qty in quantities.items() if qty > MAX_LINE_QUANTITY]
    if too_many:
        raise Conflict(
            f"At most {MAX_LINE_QUANTITY} units of one product per order; lower the quantity "
            f"of {', '.join(too_many)}.",
            slug="quantity-too-large",
            products=too_many,
        )


def price(quantities: Mapping[str, int], snapshots: Mapping[str, ProductSnapshot]) -> Priced:
    """The order's lines at catalog's current prices; a 409 naming every product that
    cannot be sold (unknown, deleted or inactive)."""
    check_cart(quantities)
    unavailable = []
    for product_id in quantities:
        snapshot = snapshots.get(product_id)
        if snapshot is None:
            unavailable.append({"product_id": product_id, "name": None, "reason": "unknown"})
        elif not snapshot.active:
            unavailable.append(
                {"product_id": product_id, "name": snapshot.name, "reason": "not for sale"}
            )
    if unavailable:
        names = ", ".join(p["name"] or p["product_id"] for p in unavailable)
        raise Conflict(
            f"These products can no longer be bought: {names}. Remove them from your cart "
            "and place the order again.",
            slug="products-unavailable",
            products=unavailable,
        )
    currencies = {snapshots[pid].price.currency for pid in quantities}
    if len(currencies) != 1:
        raise Problem(
            409,
            "The cart's products are priced in different currencies "
            f"({', '.join(sorted(currencies))}); an order is charged in one.",
            slug="mixed-currencies",
        )
    (currency,) = currencies
    _check_chargeable(
        sum(snapshots[pid].price.amount * qty for pid, qty in quantities.items()), currency
    )
    lines = []
    subtotal = Money.zero(currency)
    for product_id, quantity in quantities.items():
        snapshot = snapshots[product_id]
        line_total = snapshot.price.times(quantity)
        subtotal = subtotal + line_total
        lines.append(
            OrderLine(
                product_id=product_id, name=snapshot.name, sku=snapshot.sku, quantity=quantity,
                unit_price=snapshot.price, line_total=line_total,
                weight_grams=snapshot.weight_grams,
            )
        )  # fmt: skip
    return Priced(lines=lines, subtotal=subtotal)


def total(subtotal: Money, shipping: Money) -> Money:
    """What the order charges: subtotal plus shipping, in one currency."""
    if shipping.currency != subtotal.currency:
        raise Problem(
            409,
            f"Shipping was quoted in {shipping.currency} but the products cost "
            f"{subtotal.currency}; the shop's shipping methods must use the shop's currency.",
            slug="currency-mismatch",
        )
    _check_chargeable(subtotal.amount + shipping.amount, subtotal.currency)
    return subtotal + shipping


def _check_chargeable(amount: int, currency: str) -> None:
    """An order must be payable: its total within what one card payment can charge."""
    limit = max_charge(currency)
    if amount > limit.amount:
        raise Conflict(
            f"The order's total would be more than one card payment can charge in {currency} "
            f"({limit}); order fewer units, or split them over several orders.",
            slug="order-too-large",
            limit=limit.model_dump(mode="json"),
        )
