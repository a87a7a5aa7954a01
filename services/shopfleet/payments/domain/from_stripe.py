"""What Stripe says of an intent or a refund: the parts payments reads, parsed by the
provider and by the webhooks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IntentError:
    code: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class Intent:
    """What Stripe says of a PaymentIntent (the parts payments reads)."""

    id: str
    status: str | None
    amount: int | None = None
    amount_received: int | None = None
    error: IntentError | None = None  # its last_payment_error
    client_secret: str | None = None
    payment_method: str | None = None


@dataclass(frozen=True, slots=True)
class StripeRefund:
    """What Stripe says of a refund; `refund_id` is ours (None: made outside payments)."""

    id: str
    amount: int
    status: str | None
    refund_id: str | None


def unconfirmed(intent: Intent) -> bool:
    """Stripe has not confirmed the intent: a refused confirmation did change nothing."""
    return intent.status in ("requires_payment_method", "requires_confirmation")
