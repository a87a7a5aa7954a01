"""The parts of Stripe's webhook events that payments reads, as models (issue 12, hole 10).

A signed event is parsed into these before anything reads it: a payload of another shape
(a `refunds` that is a list, an amount that is text...) is the sender's mistake, answered
400 and logged, never a 500 that Stripe would deliver again for days. Unknown fields are
ignored: Stripe adds fields without notice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shopfleet.payments.domain.from_stripe import Intent, IntentError, StripeRefund


class _Stripe(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StripeEvent(_Stripe):
    id: str = Field(min_length=1)
    type: str
    data: EventData


class EventData(_Stripe):
    object: dict[str, Any]


class PaymentError(_Stripe):
    code: str | None = None
    message: str | None = None


class IntentObject(_Stripe):
    """`payment_intent.*`: what `settle_intent` reads of an intent."""

    id: str = Field(min_length=1)
    status: str
    amount: int | None = Field(default=None, ge=0)
    amount_received: int | None = Field(default=None, ge=0)
    last_payment_error: PaymentError | None = None

    def as_intent(self) -> Intent:
        error = self.last_payment_error
        return Intent(
            id=self.id,
            status=self.status,
            amount=self.amount,
            amount_received=self.amount_received,
            error=IntentError(error.code, error.message) if error is not None else None,
        )


class RefundObject(_Stripe):
    id: str = Field(min_length=1)
    amount: int = Field(ge=0)
    status: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    def as_refund(self) -> StripeRefund:
        return StripeRefund(self.id, self.amount, self.status, self.metadata.get("refund_id"))


class RefundList(_Stripe):
    data: list[RefundObject]


class ChargeObject(_Stripe):
    """`charge.refunded`: the charge's intent and (in older API versions) its refunds."""

    id: str = Field(min_length=1)
    payment_intent: str | None = None
    refunds: RefundList | None = None


StripeEvent.model_rebuild()
