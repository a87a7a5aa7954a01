"""Payments' input models: what a client may send."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopfleet.payments.models import ConfirmRequest, IntentCreate, RefundCreate


def test_an_intent_names_an_order_and_maybe_a_payment_method() -> None:
    order = "7e59e8e0-ba11-4fd2-9886-f1e15e11bf7e"
    assert IntentCreate(order_id=order).payment_method is None
    assert IntentCreate(order_id=order, payment_method="pm_card_visa").payment_method
    for bad in (
        {"order_id": ""},
        {"order_id": "a/b"},
        {"order_id": "ord_1"},
        {"order_id": order, "amount": 5},
        {"order_id": order, "payment_method": "4242424242424242"},
    ):
        with pytest.raises(ValidationError):
            IntentCreate.model_validate(bad)


def test_a_refund_amount_is_positive_minor_units_in_a_real_currency() -> None:
    assert RefundCreate().amount is None
    assert RefundCreate(amount=1, currency="JPY").currency == "JPY"
    for bad in (
        {"amount": 0},
        {"amount": -1},
        {"amount": 1.5},
        {"amount": 10**14},
        {"currency": "eur"},
        {"currency": "XYZ"},
        {"reason": "x"},
    ):
        with pytest.raises(ValidationError):
            RefundCreate.model_validate(bad)


def test_confirm_may_change_the_payment_method() -> None:
    assert ConfirmRequest().payment_method is None
    with pytest.raises(ValidationError):
        ConfirmRequest(payment_method="")
