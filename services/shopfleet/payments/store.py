"""All of payments' SQL: loads as typed records, and conditional updates.

Every update that moves a payment or a refund names the states it may move from (the
guard), and says whether it moved the row: of two sources telling the same thing, only
the first changes anything. The caller owns the transaction (the session).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.db import Database, dialect_insert
from shopfleet.payments.domain.from_stripe import Intent
from shopfleet.payments.domain.payment import (
    CAPTURED,
    OPEN,
    PaymentRecord,
    PaymentStatus,
    RefundReason,
    RefundRecord,
    RefundStatus,
)
from shopfleet.payments.domain.settling import Capture, Fail, Move
from shopfleet.payments.models import PageKey, Payment, PaymentsModel, Refund

payments_table = PaymentsModel.metadata.tables["payments"]
refunds_table = PaymentsModel.metadata.tables["payment_refunds"]
stripe_events_table = PaymentsModel.metadata.tables["stripe_events"]
_payments, _refunds = payments_table.c, refunds_table.c


def _values(statuses: frozenset[PaymentStatus]) -> list[str]:
    return sorted(status.value for status in statuses)


def _settled(now: datetime) -> dict[str, Any]:
    """The columns of a payment (or refund) that Stripe's answer settled: no more checks."""
    return {"settled_at": now, "updated_at": now, "check_after": None}


def _payment(row: sa.Row[Any], *, without: str | None = None) -> PaymentRecord:
    columns = {name: value for name, value in row._mapping.items() if name != without}
    return PaymentRecord(**{**columns, "status": PaymentStatus(columns["status"])})


def _refund(row: sa.Row[Any]) -> RefundRecord:
    columns = dict(row._mapping)
    status, reason = RefundStatus(columns["status"]), RefundReason(columns["reason"])
    return RefundRecord(**{**columns, "status": status, "reason": reason})


async def insert_open_payment(
    db: Database, shop: str, order: OrderSummary, payment_method: str | None, check_after: datetime
) -> str:
    """A new payment of the order, waiting for its intent; or the id of the one a concurrent
    call inserted first (the unique `(shop, open_order_id)` lets only one in)."""
    row = Payment(
        shop=shop,
        order_id=order.order_id,
        open_order_id=order.order_id,
        user_id=order.user_id,
        amount=order.total.amount,
        currency=order.total.currency,
        status=PaymentStatus.CREATING.value,
        payment_method=payment_method,
        check_after=check_after,
    )
    try:
        async with db.session() as session, session.begin():
            await session.execute(sa.insert(payments_table).values(row.model_dump()))
    except IntegrityError:
        async with db.reader() as session:
            found = await PaymentsStore(session).open_payment(shop, order.order_id)
        if found is None:
            raise
        return found.id
    return row.id


@asynccontextmanager
async def writing(db: Database) -> AsyncIterator[PaymentsStore]:
    """The store in a new transaction, committed on leaving (rolled back on an error)."""
    async with db.session() as session, session.begin():
        yield PaymentsStore(session)


@asynccontextmanager
async def reading(db: Database) -> AsyncIterator[PaymentsStore]:
    """The store on the read pool (no writes)."""
    async with db.reader() as session:
        yield PaymentsStore(session)


class PaymentsStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _changed(self, statement: sa.Executable) -> bool:
        result = await self.session.execute(statement)
        return isinstance(result, CursorResult) and result.rowcount > 0

    async def _one_payment(self, where: sa.ColumnElement[bool]) -> PaymentRecord | None:
        row = (await self.session.execute(sa.select(payments_table).where(where))).first()
        return _payment(row) if row is not None else None

    # ------------------------------------------------------------------------- payments: reads

    async def payment(
        self, shop: str, payment_id: str, *, owner: str | None = None
    ) -> PaymentRecord | None:
        """The payment; with `owner`, only if it is that user's."""
        where = sa.and_(_payments.shop == shop, _payments.id == payment_id)
        if owner is not None:
            where = sa.and_(where, _payments.user_id == owner)
        return await self._one_payment(where)

    async def payment_by_intent(self, shop: str, intent_id: str) -> PaymentRecord | None:
        return await self._one_payment(
            sa.and_(_payments.shop == shop, _payments.provider_intent_id == intent_id)
        )

    async def open_payment(self, shop: str, order_id: str) -> PaymentRecord | None:
        """The order's open or captured payment (at most one: a unique constraint)."""
        return await self._one_payment(
            sa.and_(_payments.shop == shop, _payments.open_order_id == order_id)
        )

    async def order_payments(self, shop: str, order_id: str) -> list[tuple[PaymentRecord, bool]]:
        """Every payment of the order, each with: has it a live refund for a cancellation?"""
        refunding = (
            sa.select(_refunds.id)
            .where(
                _refunds.payment_id == _payments.id,
                _refunds.reason == RefundReason.ORDER_CANCELLED.value,
                _refunds.status != RefundStatus.FAILED.value,
            )
            .exists()
            .label("refunding_for_cancel")
        )
        query = sa.select(payments_table, refunding).where(
            _payments.shop == shop, _payments.order_id == order_id
        )
        rows = (await self.session.execute(query)).all()
        return [
            (_payment(row, without="refunding_for_cancel"), bool(row.refunding_for_cancel))
            for row in rows
        ]

    async def page(
        self,
        shop: str,
        *,
        owner: str | None,
        order_id: str | None,
        status: PaymentStatus | None,
        after: PageKey | None,
        limit: int,
    ) -> tuple[list[PaymentRecord], PageKey | None]:
        """A page of payments, newest first, and the key of the next page (None: the last)."""
        query = sa.select(payments_table).where(_payments.shop == shop)
        if owner is not None:
            query = query.where(_payments.user_id == owner)
        if order_id is not None:
            query = query.where(_payments.order_id == order_id)
        if status is not None:
            query = query.where(_payments.status == status.value)
        if after is not None:
            query = query.where(
                sa.or_(
                    _payments.created_at < after.created_at,
                    sa.and_(_payments.created_at == after.created_at, _payments.id < after.id),
                )
            )
        query = query.order_by(_payments.created_at.desc(), _payments.id.desc())
        rows = [_payment(row) for row in (await self.session.execute(query.limit(limit + 1)))]
        items = rows[:limit]
        if len(rows) <= limit:
            return items, None
        return items, PageKey(items[-1].created_at, items[-1].id)

    async def due_payments(self, now: datetime, limit: int) -> list[PaymentRecord]:
        """Open payments with an intent the reconciler should ask Stripe about now."""
        query = (
            sa.select(payments_table)
            .where(
                _payments.status.in_(_values(OPEN)),
                _payments.check_after <= now,
                _payments.provider_intent_id.is_not(None),
            )
            .order_by(_payments.check_after)
            .limit(limit)
        )
        return [_payment(row) for row in await self.session.execute(query)]

    # ------------------------------------------------------------------------- payments: writes

    async def _update_payment(
        self, payment_id: str, sources: frozenset[PaymentStatus] | None, **values: Any
    ) -> bool:
        """Update the payment if it is in one of `sources` (None: any); did it?"""
        statement = sa.update(payments_table).where(_payments.id == payment_id)
        if sources is not None:
            statement = statement.where(_payments.status.in_(_values(sources)))
        return await self._changed(statement.values(**values))

    async def attach_intent(self, payment_id: str, intent: Intent, now: datetime) -> bool:
        """The new intent is the payment's, unless another call's (or a cancel) came first."""
        statement = (
            sa.update(payments_table)
            .where(_payments.id == payment_id, _payments.provider_intent_id.is_(None))
            .where(_payments.status == PaymentStatus.CREATING.value)
            .values(
                provider_intent_id=intent.id,
                client_secret=intent.client_secret,
                payment_method=intent.payment_method,
                status=PaymentStatus.PENDING.value,
                updated_at=now,
            )
        )
        return await self._changed(statement)

    async def follow_amount(self, payment_id: str, amount: int, now: datetime) -> None:
        pending = frozenset({PaymentStatus.PENDING})
        await self._update_payment(payment_id, pending, amount=amount, updated_at=now)

    async def start_processing(
        self, payment_id: str, payment_method: str, check_after: datetime, now: datetime
    ) -> None:
        await self._update_payment(
            payment_id,
            OPEN,
            status=PaymentStatus.PROCESSING.value,
            payment_method=payment_method,
            check_after=check_after,
            updated_at=now,
        )

    async def capture(self, payment_id: str, capture: Capture, now: datetime) -> bool:
        # A late capture keeps why the payment had failed.
        cleared = {} if capture.late else {"failure_code": None, "failure_message": None}
        return await self._update_payment(
            payment_id,
            capture.sources,
            status=PaymentStatus.SUCCEEDED.value,
            captured_amount=capture.received,
            **_settled(now),
            **cleared,
        )

    async def fail(self, payment_id: str, failure: Fail, now: datetime) -> bool:
        """Failed: its order may be paid by a new payment (the open slot is freed)."""
        return await self._update_payment(
            payment_id,
            failure.sources,
            status=PaymentStatus.FAILED.value,
            open_order_id=None,
            failure_code=failure.code[:64],
            failure_message=failure.message[:500],
            **_settled(now),
        )

    async def move(self, payment_id: str, move: Move, now: datetime) -> bool:
        target = move.target.value
        return await self._update_payment(payment_id, move.sources, status=target, updated_at=now)

    async def cancel_open(self, payment_id: str, now: datetime) -> bool:
        """Cancel an open payment (its order was cancelled); frees the order's slot."""
        return await self._update_payment(
            payment_id,
            OPEN,
            status=PaymentStatus.CANCELED.value,
            open_order_id=None,
            **_settled(now),
        )

    async def check_again_at(self, payment_id: str, at: datetime) -> None:
        """The reconciler asked Stripe once more: the next time it asks, if still open."""
        checks = _payments.checks + 1
        await self._update_payment(payment_id, OPEN, check_after=at, checks=checks)

    # ------------------------------------------------------------------------- refunds

    async def refund(self, refund_id: str) -> RefundRecord | None:
        query = sa.select(refunds_table).where(_refunds.id == refund_id)
        row = (await self.session.execute(query)).first()
        return _refund(row) if row is not None else None

    async def refunds_of(self, shop: str, payment_id: str) -> list[RefundRecord]:
        query = (
            sa.select(refunds_table)
            .where(_refunds.shop == shop, _refunds.payment_id == payment_id)
            .order_by(_refunds.created_at, _refunds.id)
        )
        return [_refund(row) for row in await self.session.execute(query)]

    async def known_refund(
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

    async def due_refunds(self, now: datetime, limit: int) -> Sequence[str]:
        query = (
            sa.select(_refunds.id)
            .where(_refunds.status == RefundStatus.PENDING.value, _refunds.check_after <= now)
            .order_by(_refunds.check_after)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    async def hold_refund(self, payment_id: str, amount: int, now: datetime) -> bool:
        """Hold `amount` of a captured payment; False if less than that is left now."""
        held = _payments.refund_reserved
        left = _payments.captured_amount - _payments.refunded_amount - held
        statement = (
            sa.update(payments_table)
            .where(_payments.id == payment_id, _payments.status.in_(_values(CAPTURED)))
            .where(left >= amount)
            .values(refund_reserved=held + amount, updated_at=now)
        )
        return await self._changed(statement)

    async def new_refund(
        self, payment: PaymentRecord, amount: int, reason: RefundReason, check_after: datetime
    ) -> str:
        """A pending refund of `amount` (held on the payment by `hold_refund`)."""
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

    async def _settle_refund(self, refund_id: str, status: RefundStatus, **values: Any) -> bool:
        """Settle a pending refund; False if it was settled already."""
        statement = (
            sa.update(refunds_table)
            .where(_refunds.id == refund_id, _refunds.status == RefundStatus.PENDING.value)
            .values(status=status.value, check_after=None, **values)
        )
        return await self._changed(statement)

    async def refund_succeeded(
        self, refund: RefundRecord, provider_id: str | None, now: datetime
    ) -> bool:
        """The refund succeeded: its payment counts it refunded (no longer held)."""
        succeeded = RefundStatus.SUCCEEDED
        if not await self._settle_refund(
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
        await self._update_payment(
            refund.payment_id,
            None,
            refunded_amount=total,
            refund_reserved=held,
            status=status,
            updated_at=now,
        )
        return True

    async def refund_failed(
        self, refund: RefundRecord, provider_id: str | None, message: str, now: datetime
    ) -> None:
        """The refund failed: what it held of its payment is refundable again."""
        if await self._settle_refund(
            refund.id,
            RefundStatus.FAILED,
            provider_refund_id=provider_id,
            failure_message=message[:500],
            updated_at=now,
        ):
            held = _payments.refund_reserved - refund.amount
            await self._update_payment(
                refund.payment_id, None, refund_reserved=held, updated_at=now
            )

    async def note_provider_refund(self, refund_id: str, provider_id: str, now: datetime) -> None:
        """Stripe's id of a refund still under way there."""
        await self.session.execute(
            sa.update(refunds_table)
            .where(_refunds.id == refund_id, _refunds.provider_refund_id.is_(None))
            .values(provider_refund_id=provider_id, updated_at=now)
        )

    async def check_refund_again_at(self, refund_id: str, at: datetime) -> None:
        await self.session.execute(
            sa.update(refunds_table).where(_refunds.id == refund_id).values(check_after=at)
        )

    # ------------------------------------------------------------------------- webhooks

    async def record_event(self, shop: str, event_id: str, kind: str, now: datetime) -> bool:
        """Remember a Stripe event id; False if it was seen already."""
        statement = dialect_insert(self.session, stripe_events_table).values(
            shop=shop, event_id=event_id, type=kind[:100], received_at=now
        )
        return await self._changed(statement.on_conflict_do_nothing())
