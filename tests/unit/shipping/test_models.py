"""Shipping's input models: what a method, an address update, a quote request must be."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopfleet.shipping.models import AddressUpdate, MethodCreate, MethodUpdate, QuoteAsk

PID = "0f8fad5b-d9cb-469f-a165-70867728950e"
ADDRESS = {"name": "A", "line1": "x", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def test_a_method_needs_little_and_defaults_the_rest() -> None:
    method = MethodCreate(id="standard", name="Standard", carrier="DHL", countries=["DE", "DE"])
    assert (method.base_amount, method.free_above_amount, method.active) == (0, None, True)
    assert method.countries == ["DE"]  # duplicates dropped, order kept
    assert (method.estimated_days_min, method.estimated_days_max) == (1, 5)


@pytest.mark.parametrize(
    "changes",
    [
        {"estimated_days_min": 3, "estimated_days_max": 2},
        {"id": "Standard"},
        {"id": "std_1"},
        {"countries": ["EU"]},
        {"base_amount": -1},
        {"currency": "XXX"},
    ],
)
def test_bad_methods(changes: dict) -> None:
    with pytest.raises(ValidationError):
        MethodCreate.model_validate({"id": "s", "name": "S", "carrier": "C"} | changes)


def test_updates_may_clear_only_what_is_optional() -> None:
    assert MethodUpdate(free_above_amount=None).model_dump(exclude_unset=True) == {
        "free_above_amount": None
    }
    for field in ("name", "carrier", "base_amount", "countries", "active"):
        with pytest.raises(ValidationError):
            MethodUpdate.model_validate({field: None})
    assert AddressUpdate(line2=None, region=None).model_dump(exclude_unset=True) == {
        "line2": None,
        "region": None,
    }
    for field in ("name", "line1", "city", "postal_code", "country"):
        with pytest.raises(ValidationError):
            AddressUpdate.model_validate({field: None})


def test_a_quote_names_exactly_one_address() -> None:
    lines = [{"product_id": PID, "quantity": 1}]
    assert QuoteAsk(method_id="standard", address=ADDRESS, lines=lines).address.country == "DE"
    assert QuoteAsk(method_id="standard", address_id=PID, lines=lines).address is None
    for extra in ({}, {"address": ADDRESS, "address_id": PID}):
        with pytest.raises(ValidationError, match="exactly one"):
            QuoteAsk.model_validate({"method_id": "standard", "lines": lines} | extra)
