"""What an order takes out of a cart: the ordered units, no more."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from shopfleet.cart.domain.checkout import (
    after_order_placed,
    lines_for_orders,
    ordered_quantities,
    take_ordered,
)
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


def test_an_order_that_empties_the_cart_is_remembered_with_what_it_read() -> None:
    before = cart(a=2, b=1)
    after = after_order_placed(before, "etag-1", "o1", Counter({"a": 2, "b": 1}))
    assert after.lines == [] and after.ordered is not None
    assert (after.ordered.order_id, after.ordered.version) == ("o1", "etag-1")
    answer = lines_for_orders("u1", after, "etag-2")
    assert answer.ordered_by == "o1" and answer.version == "etag-1"
    assert [(x.product_id, x.quantity) for x in answer.lines] == [("a", 2), ("b", 1)]


def test_an_order_that_leaves_lines_remembers_nothing() -> None:
    after = after_order_placed(cart(a=3), "etag-1", "o1", Counter({"a": 2}))
    assert after.ordered is None
    answer = lines_for_orders("u1", after, "etag-2")
    assert answer.ordered_by is None and answer.version == "etag-2"
    assert [(x.product_id, x.quantity) for x in answer.lines] == [("a", 1)]


def test_an_empty_cart_keeps_the_order_that_emptied_it() -> None:
    emptied = after_order_placed(cart(a=1), "etag-1", "o1", Counter({"a": 1}))
    again = after_order_placed(emptied, "etag-2", "o2", Counter({"a": 1}))
    assert again.ordered is not None and again.ordered.order_id == "o1"
    assert after_order_placed(cart(), None, "o3", Counter({"a": 1})).ordered is None


def test_a_cart_with_lines_answers_them_even_if_an_order_emptied_it_once() -> None:
    emptied = after_order_placed(cart(a=1), "etag-1", "o1", Counter({"a": 1}))
    refilled = emptied.model_copy(update={"lines": cart(b=1).lines})
    answer = lines_for_orders("u1", refilled, "etag-3")
    assert answer.ordered_by is None and answer.version == "etag-3"
