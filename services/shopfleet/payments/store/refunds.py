"""Refunds' SQL: loads, the hold a new refund puts on its payment, and settling a refund
(with what it held of its payment, counted refunded or released)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.payments.domain.payment import (
    CAPTURED,
    PaymentRecord,
    PaymentStatus,
    RefundReason,
    RefundRecord,
    RefundStatus,
)
from shopfleet.payments.models import Refund
from shopfleet.payments.store.rows import (
    changed,
    payments_table,
    refund_record,
    refunds_table,
    status_values,
    update_payment,
)

_payments, _refunds = payments_table.c, refunds_table.c


class RefundsStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ------------------------------------------------------------------------- reads

    async def get(self, refund_id: str) -> RefundRecord | None:
        query = sa.select(refunds_table).where(_refunds.id == refund_id)
        row = (await self.session.execute(query)).first()
        return refund_record(row) if row is not None else None

    async def of_payment(self, shop: str, payment_id: str) -> list[RefundRecord]:
        query = (
            sa.select(refunds_table)
            .where(_refunds.shop == shop, _refunds.payment_id == payment_id)
            .order_by(_refunds.created_at, _refunds.id)
        )
        return [refund_record(row) for row in await self.session.execute(query)]

    async def known(
        self, payment_id: str, refund_id: str | None, provider_refund_id: str
    ) -> str | None:
        """Our refund of the payment with our id or Stripe's; None: made outside payments."""
        query = sa.select(_refunds.id).where(
            _refunds.payment_id == payment_id,
            sa.or_(
                _refunds.id == (refund_id or ""),
                _refunds.provider_refund_id == provider_refund_id,
            ),
        )
        found = (await self.session.execute(query)).scalar()
        return str(found) if found is not None else None

    async def due(self, now: datetime, limit: int) -> Sequence[str]:
        """Pending refunds the reconciler should ask Stripe about now."""
        query = (
            sa.select(_refunds.id)
            .where(_refunds.status == RefundStatus.PENDING.value, _refunds.check_after <= now)
            .order_by(_refunds.check_after)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    # ------------------------------------------------------------------------- writes

    async def hold(self, payment_id: str, amount: int, now: datetime) -> bool:
        """Hold `amount` of a captured payment; False if less than that is left now."""
        held = _payments.refund_reserved
        left = _payments.captured_amount - _payments.refunded_amount - held
        statement = (
            sa.update(payments_table)
            .where(_payments.id == payment_id, _payments.status.in_(status_values(CAPTURED)))
            .where(left >= amount)
            .values(refund_reserved=held + amount, updated_at=now)
        )
        return await changed(self.session, statement)

    async def add_pending(
        self, payment: PaymentRecord, amount: int, reason: RefundReason, check_after: datetime
    ) -> str:
        """A pending refund of `amount` (held on the payment by `hold`)."""
        refund = Refund(
            shop=payment.shop,
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            status=RefundStatus.PENDING.value,
            reason=reason.value,
            check_after=check_after,
        )
        await self.session.execute(sa.insert(refunds_table).values(refund.model_dump()))
        return refund.id

    async def _settle(self, refund_id: str, status: RefundStatus, **values: Any) -> bool:
        """Settle a pending refund; False if it was settled already."""
        statement = (
            sa.update(refunds_table)
            .where(_refunds.id == refund_id, _refunds.status == RefundStatus.PENDING.value)
            .values(status=status.value, check_after=None, **values)
        )
        return await changed(self.session, statement)

    async def succeeded(self, refund: RefundRecord, provider_id: str | None, now: datetime) -> bool:
        """The refund succeeded: its payment counts it refunded (no longer held)."""
        succeeded = RefundStatus.SUCCEEDED
        if not await self._settle(
            refund.id, succeeded, provider_refund_id=provider_id, updated_at=now
        ):
            return False
        # In SQL: concurrent refunds of one payment each add their own amount.
        total = _payments.refunded_amount + refund.amount
        status = sa.case(
            (total >= _payments.captured_amount, PaymentStatus.REFUNDED.value),
            else_=PaymentStatus.PARTIALLY_REFUNDED.value,
        )
        held = _payments.refund_reserved - refund.amount
        await update_payment(
            self.session,
            refund.payment_id,
            None,
            refunded_amount=total,
            refund_reserved=held,
            status=status,
            updated_at=now,
        )
        return True

    async def failed(
        self, refund: RefundRecord, provider_id: str | None, message: str, now: datetime
    ) -> None:
        """The refund failed: what it held of its payment is refundable again."""
        if await self._settle(
            refund.id,
            RefundStatus.FAILED,
            provider_refund_id=provider_id,
            failure_message=message[:500],
            updated_at=now,
        ):
            held = _payments.refund_reserved - refund.amount
            await update_payment(
                self.session, refund.payment_id, None, refund_reserved=held, updated_at=now
            )

    async def note_provider_id(self, refund_id: str, provider_id: str, now: datetime) -> None:
        """Stripe's id of a refund still under way there."""
        await self.session.execute(
            sa.update(refunds_table)
            .where(_refunds.id == refund_id, _refunds.provider_refund_id.is_(None))
            .values(provider_refund_id=provider_id, updated_at=now)
        )

    async def check_again_at(self, refund_id: str, at: datetime) -> None:
        await self.session.execute(
            sa.update(refunds_table).where(_refunds.id == refund_id).values(check_after=at)
        )
