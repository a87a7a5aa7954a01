"""Payments' tables and the schema families of its API.

Tables: `payments` (one Stripe PaymentIntent each; at most one open payment per order,
held by the unique `(shop, open_order_id)`), `payment_refunds`, `stripe_events` (the
webhook event ids already processed), plus the outbox and inbox.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shopfleet.kit.contracts import ids
from shopfleet.kit.db import UTCDateTime, utcnow
from shopfleet.kit.money import MAX_AMOUNT, Currency, Money
from shopfleet.payments.domain.payment import (
    PaymentRecord,
    PaymentStatus,
    RefundReason,
    RefundRecord,
    RefundStatus,
)


def new_id() -> str:
    return str(uuid.uuid4())


def _timestamp(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


# ----------------------------------------------------------------------------- tables


class PaymentsModel(SQLModel, registry=registry()):
    """Payments' own metadata: services share one process in the embedded platform."""


class Payment(PaymentsModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("shop", "open_order_id", name="uq_payments_open_order"),
        sa.Index("ix_payments_shop_order", "shop", "order_id"),
        sa.Index("ix_payments_shop_user", "shop", "user_id", "created_at"),
        sa.Index("ix_payments_intent", "provider_intent_id"),
        sa.Index("ix_payments_unsettled", "status", "check_after"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    order_id: str = Field(max_length=64)
    # The order id while this payment is open or captured; NULL once it failed or was
    # cancelled, so the unique constraint allows one live payment per order.
    open_order_id: str | None = Field(default=None, max_length=64)
    user_id: str = Field(max_length=64)
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=24)
    provider_intent_id: str | None = Field(default=None, max_length=255)
    client_secret: str | None = Field(default=None, max_length=255)
    payment_method: str | None = Field(default=None, max_length=255)
    captured_amount: int = Field(default=0, sa_type=sa.BigInteger)
    refunded_amount: int = Field(default=0, sa_type=sa.BigInteger)
    refund_reserved: int = Field(default=0, sa_type=sa.BigInteger)
    failure_code: str | None = Field(default=None, max_length=64)
    failure_message: str | None = Field(default=None, max_length=500)
    # The reconciler asks Stripe about an unsettled payment from this time on.
    check_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checks: int = Field(default=0)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Refund(PaymentsModel, table=True):
    __tablename__ = "payment_refunds"
    __table_args__ = (
        sa.UniqueConstraint("provider_refund_id", name="uq_payment_refunds_provider"),
        sa.Index("ix_payment_refunds_payment", "shop", "payment_id"),
        sa.Index("ix_payment_refunds_unsettled", "status", "check_after"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    payment_id: str = Field(max_length=36, foreign_key="payments.id")
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=16)
    reason: str = Field(max_length=32)
    provider_refund_id: str | None = Field(default=None, max_length=255)
    failure_message: str | None = Field(default=None, max_length=500)
    check_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class StripeEvent(PaymentsModel, table=True):
    """A Stripe webhook event already processed for a shop (de-duplication)."""

    __tablename__ = "stripe_events"

    shop: str = Field(primary_key=True, max_length=40)
    event_id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = _timestamp()


# ----------------------------------------------------------------------------- input

PaymentMethodId = Annotated[
    ids.PaymentMethodId,
    pydantic.Field(
        max_length=255,
        description="A Stripe PaymentMethod id, e.g. `pm_card_visa` in test mode.",
        examples=["pm_card_visa"],
    ),
]


class IntentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: ids.OrderId = pydantic.Field(description="The order to pay.")
    payment_method: PaymentMethodId | None = None


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_method: PaymentMethodId | None = pydantic.Field(
        default=None, description="Omitted: the payment method given when the intent was made."
    )


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int | None = pydantic.Field(
        default=None,
        gt=0,
        le=MAX_AMOUNT,
        description="Minor units to refund; omitted: everything not refunded yet.",
    )
    currency: Currency | None = pydantic.Field(
        default=None, description="If sent, must be the payment's currency."
    )


# ----------------------------------------------------------------------------- output


class RefundPublic(BaseModel):
    id: str
    payment_id: str
    amount: Money
    status: RefundStatus
    reason: RefundReason
    provider_ref: str | None = pydantic.Field(description="The Stripe Refund id.")
    failure_message: str | None
    created_at: datetime


class PaymentPublic(BaseModel):
    id: str
    order_id: str
    user_id: str
    amount: Money
    status: PaymentStatus
    provider_ref: str | None = pydantic.Field(description="The Stripe PaymentIntent id.")
    client_secret: str | None = pydantic.Field(
        description="For Stripe.js on the shopper's device (confirm in the browser); "
        "shown to the payer only (null for an Admin)."
    )
    captured: Money
    refunded: Money
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime


class PaymentDetail(PaymentPublic):
    refunds: list[RefundPublic]


class PaymentsPage(BaseModel):
    items: list[PaymentPublic]
    next_cursor: str | None = pydantic.Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


def payment_public(payment: PaymentRecord) -> PaymentPublic:
    currency = payment.currency
    return PaymentPublic(
        id=payment.id,
        order_id=payment.order_id,
        user_id=payment.user_id,
        amount=Money(amount=payment.amount, currency=currency),
        status=payment.status,
        provider_ref=payment.provider_intent_id,
        client_secret=payment.client_secret,
        captured=Money(amount=payment.captured_amount, currency=currency),
        refunded=Money(amount=payment.refunded_amount, currency=currency),
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


def payment_detail(payment: PaymentRecord, refunds: list[RefundRecord]) -> PaymentDetail:
    shown = payment_public(payment).model_dump()
    return PaymentDetail(**shown, refunds=[refund_public(r) for r in refunds])


def refund_public(refund: RefundRecord) -> RefundPublic:
    return RefundPublic(
        id=refund.id,
        payment_id=refund.payment_id,
        amount=Money(amount=refund.amount, currency=refund.currency),
        status=refund.status,
        reason=refund.reason,
        provider_ref=refund.provider_refund_id,
        failure_message=refund.failure_message,
        created_at=refund.created_at,
    )
