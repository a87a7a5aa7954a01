"""The transition table, who may cancel, and pricing a cart: pure logic."""

from __future__ import annotations

import pytest

from shopfleet.kit.contracts.cart import CartLine
from shopfleet.kit.contracts.catalog import ProductSnapshot
from shopfleet.kit.contracts.orders import OrderStatus
from shopfleet.kit.money import Money
from shopfleet.kit.refusals import Refusal, status_of
from shopfleet.orders.domain import pricing
from shopfleet.orders.domain.checkout import request_hash
from shopfleet.orders.domain.order import (
    TRANSITIONS,
    Status,
    may_cancel,
    may_transition,
    stock_after_end,
)
from shopfleet.orders.models import OrderCreate, OrderUpdate

FORWARD = ["pending_payment", "paid", "fulfilling", "shipped", "delivered"]
ADDRESS = {"name": "A", "line1": "1 St", "city": "X", "postal_code": "1", "country": "DE"}


def test_every_status_has_a_row_and_targets_are_statuses() -> None:
    statuses = set(OrderStatus.__args__)  # type: ignore[attr-defined]
    assert set(TRANSITIONS) == statuses | {Status.PLACING}
    for targets in TRANSITIONS.values():
        assert targets <= statuses


def test_the_happy_path_only_moves_forward() -> None:
    for i, current in enumerate(FORWARD):
        for j, target in enumerate(FORWARD):
            if j <= i:
                assert not may_transition(current, target), (current, target)
    assert may_transition("paid", "delivered")  # shipping events may skip ahead


@pytest.mark.parametrize("ended", ["cancelled", "payment_failed", "refunded"])
def test_ended_orders_never_come_back(ended: str) -> None:
    for target in FORWARD:
        assert not may_transition(ended, target)
    assert not may_transition(ended, "cancelled")


def test_payment_failure_only_while_unpaid() -> None:
    assert may_transition("pending_payment", "payment_failed")
    assert not any(may_transition(s, "payment_failed") for s in FORWARD[1:])


def test_cancel_rules() -> None:
    assert [s for s in FORWARD if may_cancel(s, admin=False)] == FORWARD[:3]
    assert [s for s in FORWARD if may_cancel(s, admin=True)] == FORWARD
    for ended in ("cancelled", "payment_failed", "refunded"):
        assert not may_cancel(ended, admin=True)


def snapshot(
    pid: str, price: int, *, active: bool = True, currency: str = "EUR"
) -> ProductSnapshot:
    return ProductSnapshot(
        id=pid,
        name=f"P{pid}",
        slug=f"p{pid}",
        sku=f"S{pid}",
        available=10,
        active=active,
        price=Money(amount=price, currency=currency),
        weight_grams=250,
    )


def test_pricing_uses_catalog_prices_and_merges_lines() -> None:
    quantities = pricing.merge(
        [
            CartLine(product_id="a", quantity=2),
            CartLine(product_id="b", quantity=1),
            CartLine(product_id="a", quantity=1),
        ]
    )
    priced = pricing.price(quantities, {"a": snapshot("a", 1250), "b": snapshot("b", 99)})
    assert [(line.product_id, line.quantity) for line in priced.lines] == [("a", 3), ("b", 1)]
    assert priced.lines[0].line_total == Money(amount=3750, currency="EUR")
    assert priced.lines[0].weight_grams == 250
    assert priced.subtotal == Money(amount=3849, currency="EUR")
    shipping = Money(amount=490, currency="EUR")
    assert pricing.total(priced.subtotal, shipping) == Money(amount=4339, currency="EUR")


def test_pricing_refuses_what_cannot_be_sold() -> None:
    with pytest.raises(Refusal) as empty:
        pricing.price({}, {})
    assert empty.value.slug == "cart-empty"
    with pytest.raises(Refusal) as unavailable:
        pricing.price(
            {"a": 1, "b": 1, "c": 1}, {"a": snapshot("a", 1), "b": snapshot("b", 1, active=False)}
        )
    assert unavailable.value.slug == "products-unavailable"
    assert {p["product_id"] for p in unavailable.value.extra["products"]} == {"b", "c"}
    with pytest.raises(Refusal) as mixed:
        pricing.price(
            {"a": 1, "b": 1}, {"a": snapshot("a", 1), "b": snapshot("b", 1, currency="USD")}
        )
    assert mixed.value.slug == "mixed-currencies"
    with pytest.raises(Refusal) as currency:
        pricing.total(Money(amount=1, currency="EUR"), Money(amount=1, currency="USD"))
    assert currency.value.slug == "currency-mismatch"
    with pytest.raises(Refusal) as many:
        pricing.check_cart({str(i): 1 for i in range(101)})
    assert many.value.slug == "too-many-lines"


def test_an_order_names_exactly_one_address() -> None:
    OrderCreate.model_validate({"shipping_method": "standard", "shipping_address_id": "a1"})
    OrderCreate.model_validate({"shipping_method": "standard", "shipping_address": ADDRESS})
    for body in (
        {"shipping_method": "standard"},
        {"shipping_method": "standard", "shipping_address_id": "a", "shipping_address": ADDRESS},
    ):
        with pytest.raises(ValueError, match="exactly one"):
            OrderCreate.model_validate(body)
    with pytest.raises(ValueError, match="to change"):
        OrderUpdate.model_validate({})


def test_the_request_hash_ignores_key_order() -> None:
    a = OrderCreate.model_validate({"shipping_method": "standard", "shipping_address": ADDRESS})
    b = OrderCreate.model_validate(
        {"shipping_address": dict(reversed(ADDRESS.items())), "shipping_method": "standard"}
    )
    c = OrderCreate.model_validate({"shipping_method": "express", "shipping_address": ADDRESS})
    assert request_hash(a) == request_hash(b) != request_hash(c)


def test_an_order_too_large_to_charge_is_refused() -> None:
    from shopfleet.kit.money import MAX_AMOUNT

    with pytest.raises(Refusal) as huge:
        pricing.price({"a": 999}, {"a": snapshot("a", MAX_AMOUNT)})
    assert huge.value.slug == "order-too-large"
    with pytest.raises(Refusal) as total:
        pricing.total(Money(amount=MAX_AMOUNT, currency="EUR"), Money(amount=1, currency="EUR"))
    assert total.value.slug == "order-too-large"


def test_an_order_total_must_fit_one_card_payment() -> None:
    """Issue 12, hole 11: Stripe charges at most 99,999,999 minor units (IDR: 12 digits)."""
    limit = {"amount": 99_999_999, "currency": "EUR"}
    fits = pricing.total(
        Money(amount=99_999_000, currency="EUR"), Money(amount=999, currency="EUR")
    )
    assert fits.amount == 99_999_999
    with pytest.raises(Refusal) as over:
        pricing.total(Money(amount=99_999_000, currency="EUR"), Money(amount=1000, currency="EUR"))
    assert status_of(over.value) == 409 and over.value.extra["limit"] == limit
    assert "999999.99 EUR" in over.value.detail
    with pytest.raises(Refusal):
        pricing.price({"a": 2}, {"a": snapshot("a", 50_000_000)})
    rupiah = Money(amount=10**11, currency="IDR")
    assert pricing.total(rupiah, Money(amount=0, currency="IDR")) == rupiah


def test_stock_goes_back_only_while_the_goods_are_in_the_warehouse() -> None:
    for status in ("pending_payment", "paid", "fulfilling"):
        for stock in ("reserved", "commit_pending", "committed"):
            assert stock_after_end(status, stock) == "release_pending"
    assert stock_after_end("paid", "released") == "released"
    for status in ("shipped", "delivered"):
        assert stock_after_end(status, "committed") == "committed"
        assert stock_after_end(status, "commit_pending") == "commit_pending"  # still commits
