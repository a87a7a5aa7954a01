"""What a shipment costs: base, per started kilogram, per unit, free above a subtotal;
where a method ships; how a shipment's status may move."""

from __future__ import annotations

import pytest

from shopfleet.kit.contracts.shipping import QuoteLine
from shopfleet.kit.money import MAX_AMOUNT, Money
from shopfleet.shipping.domain.costs import Rates, billable_kg, cost_of, quote, serves
from shopfleet.shipping.domain.refusals import QuoteError, TransitionRefused
from shopfleet.shipping.domain.shipments import TRANSITIONS, check_transition

PID = "0f8fad5b-d9cb-469f-a165-70867728950e"
PID2 = "1f8fad5b-d9cb-469f-a165-70867728950e"


def rates(**changes: object) -> Rates:
    base = dict(
        id="standard",
        name="Standard",
        carrier="DHL",
        currency="EUR",
        base=490,
        per_kg=100,
        per_item=50,
        free_above=5000,
        days_min=2,
        days_max=5,
        countries=(),
    )
    return Rates(**(base | changes))  # type: ignore[arg-type]


def line(price: int, quantity: int = 1, grams: int = 0, currency: str = "EUR", pid: str = PID):
    return QuoteLine(
        product_id=pid,
        quantity=quantity,
        weight_grams=grams,
        unit_price=Money(amount=price, currency=currency),
    )


@pytest.mark.parametrize(
    ("grams", "kg"),
    [(0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (2500, 3), (10_000, 10), (10_001, 11)],
)
def test_every_started_kilogram_is_charged(grams: int, kg: int) -> None:
    assert billable_kg(grams) == kg


def test_cost_is_base_plus_per_kg_plus_per_item() -> None:
    # 490 + 100 × ⌈2.5 kg⌉ + 50 × 3 units
    assert cost_of(rates(), subtotal=100, weight_grams=2500, units=3) == 490 + 300 + 150
    assert cost_of(rates(per_kg=0, per_item=0), subtotal=100, weight_grams=9999, units=9) == 490


def test_free_from_the_threshold_on() -> None:
    r = rates()
    assert cost_of(r, subtotal=4999, weight_grams=0, units=1) == 540
    assert cost_of(r, subtotal=5000, weight_grams=0, units=1) == 0  # reaching it is enough
    assert cost_of(r, subtotal=5001, weight_grams=50_000, units=20) == 0
    never_free = rates(free_above=None)
    assert cost_of(never_free, subtotal=10**12, weight_grams=0, units=1) == 540
    always_free = rates(free_above=0)
    assert cost_of(always_free, subtotal=0, weight_grams=1000, units=1) == 0


def test_quote_sums_lines_by_quantity() -> None:
    answer = quote(rates(), "DE", [line(1200, 2, grams=450), line(300, 3, grams=100, pid=PID2)])
    assert answer.subtotal == Money(amount=3300, currency="EUR")
    assert answer.weight_grams == 2 * 450 + 3 * 100  # 1.2 kg → 2 kg charged
    assert answer.cost == Money(amount=490 + 2 * 100 + 5 * 50, currency="EUR")
    assert (answer.method_id, answer.carrier) == ("standard", "DHL")
    assert (answer.estimated_days_min, answer.estimated_days_max) == (2, 5)

    free = quote(rates(), "DE", [line(2500, 2, grams=5000)])
    assert free.cost.amount == 0 and free.subtotal.amount == 5000


def test_zones_limit_the_countries() -> None:
    assert serves((), "JP") and serves(("DE", "AT"), "AT") and not serves(("DE", "AT"), "FR")
    express = rates(id="express", countries=("DE", "AT"))
    assert quote(express, "AT", [line(100)]).cost.amount == 540
    with pytest.raises(QuoteError) as refused:
        quote(express, "FR", [line(100)])
    assert refused.value.slug == "country-not-served"
    assert refused.value.field == "body.address.country"
    assert "DE, AT" in str(refused.value)


def test_lines_in_another_currency_are_refused() -> None:
    with pytest.raises(QuoteError) as refused:
        quote(rates(), "DE", [line(100), line(100, currency="USD", pid=PID2)])
    assert refused.value.slug == "currency-mismatch"
    assert refused.value.field == "body.lines.1.unit_price.currency"


def test_amounts_beyond_the_largest_are_refused_not_crashed() -> None:
    huge = rates(per_item=MAX_AMOUNT, free_above=None)
    with pytest.raises(QuoteError) as refused:
        quote(huge, "DE", [line(1, 999)])
    assert refused.value.slug == "amount-too-large"
    with pytest.raises(QuoteError):
        quote(rates(), "DE", [line(MAX_AMOUNT, 2)])


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("pending", "packed"),
        ("pending", "shipped"),
        ("packed", "shipped"),
        ("shipped", "in_transit"),
        ("shipped", "delivered"),
        ("in_transit", "delivered"),
        ("delivered", "returned"),
        ("pending", "cancelled"),
        ("packed", "cancelled"),
        ("packed", "pending"),
    ],
)
def test_allowed_transitions(current: str, target: str) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("shipped", "pending"),
        ("shipped", "cancelled"),
        ("delivered", "in_transit"),
        ("cancelled", "pending"),
        ("returned", "shipped"),
        ("pending", "delivered"),
        ("pending", "pending"),
        ("in_transit", "cancelled"),
    ],
)
def test_forbidden_transitions_say_what_is_allowed(current: str, target: str) -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(current, target)
    assert current in str(refused.value)
    if TRANSITIONS[current]:
        assert all(option in str(refused.value) for option in TRANSITIONS[current])
    else:
        assert "final" in str(refused.value)
