"""Pricing a cart into an order's lines: catalog's prices, never the client's. Pure logic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shopfleet.kit.contracts.cart import CartLine
from shopfleet.kit.contracts.catalog import MAX_LINE_QUANTITY, ProductSnapshot
from shopfleet.kit.money import Money, max_charge
from shopfleet.orders.domain.order import OrderLine
from shopfleet.orders.domain.refusals import CartRefused

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


def cart_empty() -> CartRefused:
    return CartRefused(
        "Your cart is empty; add products to it before placing an order.", slug="cart-empty"
    )


def check_cart(quantities: Mapping[str, int]) -> None:
    if not quantities:
        raise cart_empty()
    if len(quantities) > MAX_LINES:
        raise CartRefused(
            f"An order holds at most {MAX_LINES} different products; your cart has "
            f"{len(quantities)}. Remove some and place the rest as another order.",
            slug="too-many-lines",
        )
    too_many = [pid for pid, qty in quantities.items() if qty > MAX_LINE_QUANTITY]
    if too_many:
        raise CartRefused(
            f"At most {MAX_LINE_QUANTITY} units of one product per order; lower the quantity "
            f"of {', '.join(too_many)}.",
            slug="quantity-too-large",
            products=too_many,
        )


def price(quantities: Mapping[str, int], snapshots: Mapping[str, ProductSnapshot]) -> Priced:
    """The order's lines at catalog's current prices; refused if a product cannot be sold,
    the prices mix currencies, or the total is more than one card payment can charge."""
    check_cart(quantities)
    _check_sellable(quantities, snapshots)
    currency = _one_currency([snapshots[pid].price for pid in quantities])
    _check_chargeable(
        sum(snapshots[pid].price.amount * qty for pid, qty in quantities.items()), currency
    )
    lines = [_line(pid, snapshots[pid], qty) for pid, qty in quantities.items()]
    subtotal = sum((line.line_total for line in lines), Money.zero(currency))
    return Priced(lines=lines, subtotal=subtotal)


def _line(product_id: str, snapshot: ProductSnapshot, quantity: int) -> OrderLine:
    return OrderLine(
        product_id=product_id,
        name=snapshot.name,
        sku=snapshot.sku,
        quantity=quantity,
        unit_price=snapshot.price,
        line_total=snapshot.price.times(quantity),
        weight_grams=snapshot.weight_grams,
    )


def _check_sellable(
    quantities: Mapping[str, int], snapshots: Mapping[str, ProductSnapshot]
) -> None:
    """Refuse naming every product that cannot be sold (unknown, deleted or inactive)."""
    unavailable: list[dict[str, str | None]] = []
    for product_id in quantities:
        snapshot = snapshots.get(product_id)
        if snapshot is None:
            unavailable.append({"product_id": product_id, "name": None, "reason": "unknown"})
        elif not snapshot.active:
            unavailable.append(
                {"product_id": product_id, "name": snapshot.name, "reason": "not for sale"}
            )
    if unavailable:
        names = ", ".join(str(p["name"] or p["product_id"]) for p in unavailable)
        raise CartRefused(
            f"These products can no longer be bought: {names}. Remove them from your cart "
            "and place the order again.",
            slug="products-unavailable",
            products=unavailable,
        )


def _one_currency(prices: Iterable[Money]) -> str:
    currencies = {price.currency for price in prices}
    if len(currencies) != 1:
        raise CartRefused(
            "The cart's products are priced in different currencies "
            f"({', '.join(sorted(currencies))}); an order is charged in one.",
            slug="mixed-currencies",
        )
    (currency,) = currencies
    return currency


def total(subtotal: Money, shipping: Money) -> Money:
    """What the order charges: subtotal plus shipping, in one currency."""
    if shipping.currency != subtotal.currency:
        raise CartRefused(
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
        raise CartRefused(
            f"The order's total would be more than one card payment can charge in {currency} "
            f"({limit}); order fewer units, or split them over several orders.",
            slug="order-too-large",
            limit=limit.model_dump(mode="json"),
        )
