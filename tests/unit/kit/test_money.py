from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopfleet.kit.money import MAX_AMOUNT, Money


def test_money_adds_and_formats_in_minor_units() -> None:
    total = Money(amount=1999, currency="EUR") + Money(amount=1, currency="EUR")
    assert total == Money(amount=2000, currency="EUR")
    assert str(total) == "20.00 EUR"
    assert str(Money(amount=500, currency="JPY")) == "500 JPY"
    assert str(Money(amount=1234, currency="KWD")) == "1.234 KWD"
    assert Money(amount=250, currency="USD").times(3).amount == 750


@pytest.mark.parametrize(
    "raw",
    [
        {"amount": -1, "currency": "EUR"},
        {"amount": 1.5, "currency": "EUR"},
        {"amount": MAX_AMOUNT + 1, "currency": "EUR"},
        {"amount": 1, "currency": "eur"},
        {"amount": 1, "currency": "XYZ"},
        {"amount": 1, "currency": "EUR", "extra": True},
    ],
)
def test_bad_money_is_rejected(raw: dict) -> None:
    with pytest.raises(ValidationError):
        Money.model_validate(raw)


def test_currencies_do_not_mix() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        Money(amount=1, currency="EUR") + Money(amount=1, currency="USD")
