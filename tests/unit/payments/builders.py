"""Payments' records and orders as a decision sees them, built in one line for a test."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.money import Money
from shopfleet.payments.domain.payment import (
    PaymentRecord,
    PaymentStatus,
    RefundReason,
    RefundRecord,
    RefundStatus,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ORDER_ID = "7e59e8e0-ba11-4fd2-9886-f1e15e11bf7e"
SHOPPER = "shopper"

_PAYMENT = PaymentRecord(
    id="p1",
    shop="demo",
    order_id=ORDER_ID,
    open_order_id=ORDER_ID,
    user_id=SHOPPER,
    amount=1999,
    currency="EUR",
    status=PaymentStatus.PENDING,
    provider_intent_id="pi_1",
    client_secret="pi_1_secret",
    payment_method="pm_card_visa",
    captured_amount=0,
    refunded_amount=0,
    refund_reserved=0,
    failure_code=None,
    failure_message=None,
    check_after=None,
    checks=0,
    created_at=NOW,
    updated_at=NOW,
    settled_at=None,
)

_REFUND = RefundRecord(
    id="r1",
    shop="demo",
    payment_id="p1",
    amount=500,
    currency="EUR",
    status=RefundStatus.PENDING,
    reason=RefundReason.REQUESTED,
    provider_refund_id=None,
    failure_message=None,
    check_after=NOW,
    created_at=NOW,
    updated_at=NOW,
)


def payment(status: PaymentStatus = PaymentStatus.PENDING, **changes: Any) -> PaymentRecord:
    return dataclasses.replace(_PAYMENT, status=status, **changes)


def captured(
    amount: int = 1999, status: PaymentStatus = PaymentStatus.SUCCEEDED, **changes: Any
) -> PaymentRecord:
    """A payment that took `amount` (succeeded, or refunded since)."""
    return payment(status, captured_amount=amount, **changes)


def refund(status: RefundStatus = RefundStatus.PENDING, **changes: Any) -> RefundRecord:
    return dataclasses.replace(_REFUND, status=status, **changes)


def order(
    *,
    status: str = "pending_payment",
    amount: int = 1999,
    currency: str = "EUR",
    user_id: str = SHOPPER,
) -> OrderSummary:
    return OrderSummary.model_validate(
        {
            "order_id": ORDER_ID,
            "user_id": user_id,
            "status": status,
            "total": Money(amount=amount, currency=currency),
            "placed_at": NOW,
            "expires_at": None,
        }
    )
