"""Methods, addresses and quotes decided without a database: which method a quote may use,
what catalog's answer prices, an admin's change or deletion of a method, the limits, and
the problem each refusal is answered with."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shopfleet.kit.contracts.catalog import ProductSnapshot
from shopfleet.kit.errors import problem_for
from shopfleet.kit.money import Money
from shopfleet.kit.refusals import Refusal
from shopfleet.shipping.domain.costs import Rates, priced_lines, rates_on_offer
from shopfleet.shipping.domain.edits import changed_fields, check_address_room, check_method_room
from shopfleet.shipping.domain.methods import (
    Deletion,
    MethodRecord,
    changed_method,
    method_deletion,
    shop_currency,
    visible_method,
)
from shopfleet.shipping.domain.refusals import (
    CurrencyMismatch,
    DaysOutOfOrder,
    MethodIdTaken,
    MethodNotFound,
    MethodRetired,
    ProductNotForSale,
    QuoteError,
    TooManyAddresses,
    TooManyMethods,
)
from shopfleet.shipping.models import AddressPublic

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PID, PID2 = "0f8fad5b-d9cb-469f-a165-70867728950e", "1f8fad5b-d9cb-469f-a165-70867728950e"


def method(**changes: Any) -> MethodRecord:
    base = MethodRecord(
        id="express",
        name="Express",
        carrier="DHL Express",
        currency="EUR",
        base_amount=1290,
        per_kg_amount=200,
        per_item_amount=10,
        free_above_amount=None,
        estimated_days_min=1,
        estimated_days_max=2,
        countries=["DE", "AT"],
        active=True,
        created_at=T0,
        updated_at=T0,
        version=2,
    )
    return dataclasses.replace(base, **changes)


def product(
    pid: str = PID, *, active: bool = True, price: int = 1200, grams: int = 450
) -> ProductSnapshot:
    return ProductSnapshot(
        id=pid,
        name="Mug",
        slug="mug",
        sku="MUG",
        price=Money(amount=price, currency="EUR"),
        available=5,
        active=active,
        weight_grams=grams,
    )


# ----------------------------------------------------------------------------- quotes


def test_rates_are_the_methods_columns() -> None:
    assert Rates.of(method()) == Rates(
        id="express",
        name="Express",
        carrier="DHL Express",
        currency="EUR",
        base=1290,
        per_kg=200,
        per_item=10,
        free_above=None,
        days_min=1,
        days_max=2,
        countries=("DE", "AT"),
    )


def test_a_quote_uses_a_method_on_offer() -> None:
    assert rates_on_offer(method(), "demo", "express").id == "express"


def test_an_unknown_method_is_not_found_in_the_shop() -> None:
    with pytest.raises(MethodNotFound) as refused:
        rates_on_offer(None, "demo", "teleport")
    assert refused.value.slug == "shipping-method-not-found"
    assert "'teleport' in shop 'demo'" in refused.value.detail
    assert problem_for(refused.value).status == 404


def test_a_retired_method_is_not_found_either_and_says_so() -> None:
    with pytest.raises(MethodRetired) as refused:
        rates_on_offer(method(active=False), "demo", "express")
    assert refused.value.slug == "shipping-method-not-found"
    assert "not offered any more" in refused.value.detail
    assert problem_for(refused.value).status == 404


def test_catalog_prices_and_weighs_the_lines() -> None:
    found = {PID: product(), PID2: product(PID2, price=300, grams=0)}
    lines = priced_lines([(PID, 2), (PID2, 1)], found)
    assert [(line.product_id, line.quantity) for line in lines] == [(PID, 2), (PID2, 1)]
    assert [line.unit_price.amount for line in lines] == [1200, 300]
    assert [line.weight_grams for line in lines] == [450, 0]


@pytest.mark.parametrize("found", [{}, {PID2: product(active=False)}])
def test_a_product_not_for_sale_names_its_line(found: dict[str, ProductSnapshot]) -> None:
    with pytest.raises(ProductNotForSale) as refused:
        priced_lines([(PID, 1), (PID2, 1)], {PID: product()} | found)
    assert refused.value.field == "body.lines.1.product_id"
    assert refused.value.slug == "product-not-for-sale"


def test_a_quote_refusal_is_a_422_naming_the_field() -> None:
    refusal = QuoteError("body.address.country", "it ships to DE", slug="country-not-served")
    problem = problem_for(refusal)
    assert (problem.status, problem.slug) == (422, "country-not-served")
    assert problem.detail == "Fix this field: body.address.country: it ships to DE."
    assert problem.extra["errors"] == [
        {"field": "body.address.country", "message": "it ships to DE", "type": "value_error"}
    ]


# ----------------------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("active", "include_inactive", "shown"),
    [(True, False, True), (True, True, True), (False, True, True), (False, False, False)],
)
def test_an_inactive_method_is_shown_only_when_asked(
    active: bool, include_inactive: bool, shown: bool
) -> None:
    found = method(active=active)
    if shown:
        assert visible_method(found, "demo", "express", include_inactive=include_inactive) is found
        return
    with pytest.raises(MethodNotFound):
        visible_method(found, "demo", "express", include_inactive=include_inactive)


def test_a_method_charges_in_the_shops_currency() -> None:
    assert shop_currency("EUR", None) == "EUR"
    assert shop_currency("EUR", "EUR") == "EUR"
    with pytest.raises(CurrencyMismatch) as refused:
        shop_currency("EUR", "USD")
    assert (refused.value.field, refused.value.slug) == ("body.currency", "currency-mismatch")
    assert "charges in EUR, not USD" in refused.value.message


def test_a_change_keeps_only_what_differs() -> None:
    current = method()
    sent = {"name": "Express", "countries": ["DE", "AT"], "base_amount": 990}
    assert changed_fields(current, sent) == {"base_amount": 990}
    assert changed_fields(current, {"countries": ["AT", "DE"]}) == {"countries": ["AT", "DE"]}
    address = AddressPublic(
        id="a1",
        name="Ada",
        line1="x",
        city="Berlin",
        postal_code="10115",
        country="DE",
        created_at=T0,
        updated_at=T0,
    )
    assert changed_fields(address, {"city": "Berlin", "line2": None, "phone": "1"}) == {
        "phone": "1"
    }


def test_a_changed_method_is_one_version_on() -> None:
    later = T0 + timedelta(days=1)
    changed = changed_method(method(), {"base_amount": 990, "estimated_days_max": 4}, later)
    assert (changed.base_amount, changed.estimated_days_max) == (990, 4)
    assert (changed.version, changed.updated_at, changed.created_at) == (3, later, T0)


def test_a_change_may_not_put_the_days_out_of_order() -> None:
    with pytest.raises(DaysOutOfOrder) as refused:
        changed_method(method(), {"estimated_days_min": 3}, T0)
    assert refused.value.field == "body.estimated_days_max"
    assert refused.value.message == "must be at least estimated_days_min (3)"
    assert refused.value.slug == "validation-error"


@pytest.mark.parametrize(
    ("used", "active", "deletion", "outcome"),
    [
        (False, True, Deletion.DELETE, "deleted"),
        (False, False, Deletion.DELETE, "deleted"),
        (True, True, Deletion.DEACTIVATE, "deactivated"),
        (True, False, Deletion.KEEP, "deactivated"),
    ],
)
def test_a_used_method_is_deactivated_not_deleted(
    used: bool, active: bool, deletion: Deletion, outcome: str
) -> None:
    decided = method_deletion(method(active=active), used)
    assert (decided, decided.outcome) == (deletion, outcome)


def test_a_taken_method_id_is_a_409_naming_the_field() -> None:
    problem = problem_for(MethodIdTaken("body.id", "'express' is already a shipping method"))
    assert (problem.status, problem.slug, problem.title) == (409, "method-id-taken", "Conflict")
    assert problem.detail == "Fix this field: body.id: 'express' is already a shipping method."
    assert problem.extra["errors"] == [
        {
            "field": "body.id",
            "message": "'express' is already a shipping method",
            "type": "value_error",
        }
    ]


# ----------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("check", "refusal", "slug"),
    [
        (check_method_room, TooManyMethods, "too-many-methods"),
        (check_address_room, TooManyAddresses, "too-many-addresses"),
    ],
)
def test_one_more_is_refused_at_the_limit(check: Any, refusal: type[Refusal], slug: str) -> None:
    check(0, 1)
    check(49, 50)
    with pytest.raises(refusal) as refused:
        check(50, 50)
    assert refused.value.slug == slug and "50" in refused.value.detail
    assert problem_for(refused.value).status == 409
