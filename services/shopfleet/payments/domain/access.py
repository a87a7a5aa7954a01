"""Who sees which payments."""

from __future__ import annotations

from shopfleet.kit.refusals import NotFoundRefusal
from shopfleet.payments.domain.payment import PaymentRecord


def seen_by(user_id: str, *, is_admin: bool) -> str | None:
    """Whose payments a caller sees: a shopper their own, an Admin (None) every one."""
    return None if is_admin else user_id


def existing_payment(payment: PaymentRecord | None, payment_id: str) -> PaymentRecord:
    if payment is None:
        raise NotFoundRefusal(f"There is no payment '{payment_id}'.")
    return payment
