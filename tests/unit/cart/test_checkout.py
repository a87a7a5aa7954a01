"""What an order takes out of a cart: the ordered units, no more."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from shopfleet.cart.domain.checkout import ordered_quantities, take_ordered
from shopfleet.cart.models import StoredCart, StoredLine
from shopfleet.kit.contracts.events import OrderLinePayload
from shopfleet.kit.money import Money

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def cart(**quantities: int) -> StoredCart:
    return StoredCart(
        lines=[StoredLine(product_id=p, quantity=q, added_at=NOW) for p, q in quantities.items()]
    )


def test_ordered_lines_go_and_extra_units_stay() -> None:
    left = take_ordered(cart(a=3, b=1, c=2), Counter(a=2, b=1))
    assert [(line.product_id, line.quantity) for line in left.lines] == [("a", 1), ("c", 2)]


def test_a_line_reduced_below_the_order_goes() -> None:
    assert take_ordered(cart(a=1), Counter(a=4)).lines == []


def test_products_not_in_the_cart_are_ignored() -> None:
    assert take_ordered(cart(a=1), Counter(z=2)) == cart(a=1)


def test_ordered_quantities_add_up_per_product() -> None:
    price = Money(amount=100, currency="EUR")
    lines = [
        OrderLinePayload(product_id=p, name="n", sku="s", quantity=q, unit_price=price)
        for p, q in (("a", 1), ("b", 2), ("a", 3))
    ]
    assert ordered_quantities(lines) == Counter(a=4, b=2)
