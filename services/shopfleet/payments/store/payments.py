"""Payments' SQL: a payment's loads, pages and guarded moves; the reconciler's due payments;
the transactions the use cases open; and the insert of an order's open payment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.orders import OrderSummary
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import Database
from shopfleet.payments.domain.from_stripe import Intent
from shopfleet.payments.domain.payment import (
    OPEN,
    PaymentRecord,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from shopfleet.payments.domain.settling import Capture, Fail, Move
from shopfleet.payments.models import Payment
from shopfleet.payments.store.refunds import RefundsStore
from shopfleet.payments.store.rows import (
    applied,
    changed,
    payment_record,
    payments_table,
    refunds_table,
    settled_columns,
    status_values,
    update_payment,
)

_payments, _refunds = payments_table.c, refunds_table.c


async def insert_open_payment(
    db: Database, shop: str, order: OrderSummary, payment_method: str | None, check_after: datetime
) -> PaymentRecord:
    """A new payment of the order, waiting for its intent (as written); or the one a
    concurrent call inserted first (the unique `(shop, open_order_id)` lets only one in)."""
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
    values = row.model_dump()
    try:
        async with db.session() as session, session.begin():
            await session.execute(sa.insert(payments_table).values(values))
    except IntegrityError:
        async with db.reader() as session:
            found = await PaymentsStore(session).open_payment(shop, order.order_id)
        if found is None:
            raise
        return found
    return PaymentRecord(**{**values, "status": PaymentStatus.CREATING})


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
    """A shop's payments (and, as `refunds`, their refunds) in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.refunds = RefundsStore(session)  # the payment's refunds, in the same transaction

    async def _one_payment(self, where: sa.ColumnElement[bool]) -> PaymentRecord | None:
        row = (await self.session.execute(sa.select(payments_table).where(where))).first()
        return payment_record(row) if row is not None else None

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
            (payment_record(row, without="refunding_for_cancel"), bool(row.refunding_for_cancel))
            for row in rows
        ]

    async def page(
        self,
        shop: str,
        *,
        owner: str | None,
        order_id: str | None,
        status: PaymentStatus | None,
        after: PageEnd | None,
        limit: int,
    ) -> tuple[list[PaymentRecord], PageEnd | None]:
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
                    _payments.created_at < after.at,
                    sa.and_(_payments.created_at == after.at, _payments.id < after.id),
                )
            )
        query = query.order_by(_payments.created_at.desc(), _payments.id.desc())
        rows = [payment_record(row) for row in (await self.session.execute(query.limit(limit + 1)))]
        items = rows[:limit]
        if len(rows) <= limit:
            return items, None
        return items, PageEnd(items[-1].created_at, items[-1].id)

    async def due_payments(self, now: datetime, limit: int) -> list[PaymentRecord]:
        """Open payments with an intent the reconciler should ask Stripe about now."""
        query = (
            sa.select(payments_table)
            .where(
                _payments.status.in_(status_values(OPEN)),
                _payments.check_after <= now,
                _payments.provider_intent_id.is_not(None),
            )
            .order_by(_payments.check_after)
            .limit(limit)
        )
        return [payment_record(row) for row in await self.session.execute(query)]

    # ------------------------------------------------------------------------- payments: writes

    async def attach_intent(
        self, payment: PaymentRecord, intent: Intent, now: datetime
    ) -> PaymentRecord | None:
        """The new intent is the payment's, unless another call's (or a cancel) came first;
        the payment as it is then (None: not attached). A payment still `creating` has
        nothing else that changes (only a cancel or a failure moves it, and then this
        update finds it gone), so `payment` and this change are the whole row."""
        values = dict(
            provider_intent_id=intent.id,
            client_secret=intent.client_secret,
            payment_method=intent.payment_method,
            status=PaymentStatus.PENDING.value,
            updated_at=now,
        )
        statement = (
            sa.update(payments_table)
            .where(_payments.id == payment.id, _payments.provider_intent_id.is_(None))
            .where(_payments.status == PaymentStatus.CREATING.value)
            .values(values)
        )
        return applied(payment, values) if await changed(self.session, statement) else None

    async def follow_amount(self, payment_id: str, amount: int, now: datetime) -> None:
        pending = frozenset({PaymentStatus.PENDING})
        await update_payment(self.session, payment_id, pending, amount=amount, updated_at=now)

    async def start_processing(
        self, payment_id: str, payment_method: str, check_after: datetime, now: datetime
    ) -> None:
        await update_payment(
            self.session,
            payment_id,
            OPEN,
            status=PaymentStatus.PROCESSING.value,
            payment_method=payment_method,
            check_after=check_after,
            updated_at=now,
        )

    # `capture`, `fail` and `move` store a change decided on `payment` (as read in this
    # transaction) while it is in the change's sources; each answers `payment` with the
    # change applied, or None if it had left them.

    async def capture(
        self, payment: PaymentRecord, capture: Capture, now: datetime
    ) -> PaymentRecord | None:
        # A late capture keeps why the payment had failed.
        cleared = {} if capture.late else {"failure_code": None, "failure_message": None}
        values = dict(
            status=PaymentStatus.SUCCEEDED.value,
            captured_amount=capture.received,
            **settled_columns(now),
            **cleared,
        )
        return await self._change(payment, capture.sources, values)

    async def fail(
        self, payment: PaymentRecord, failure: Fail, now: datetime
    ) -> PaymentRecord | None:
        """Failed: its order may be paid by a new payment (the open slot is freed)."""
        values = dict(
            status=PaymentStatus.FAILED.value,
            open_order_id=None,
            failure_code=failure.code[:64],
            failure_message=failure.message[:500],
            **settled_columns(now),
        )
        return await self._change(payment, failure.sources, values)

    async def move(self, payment: PaymentRecord, move: Move, now: datetime) -> PaymentRecord | None:
        values = dict(status=move.target.value, updated_at=now)
        return await self._change(payment, move.sources, values)

    async def _change(
        self, payment: PaymentRecord, sources: frozenset[PaymentStatus], values: dict[str, Any]
    ) -> PaymentRecord | None:
        if not await update_payment(self.session, payment.id, sources, **values):
            return None
        return applied(payment, values)

    async def cancel_open(self, payment_id: str, now: datetime) -> bool:
        """Cancel an open payment (its order was cancelled); frees the order's slot."""
        return await update_payment(
            self.session,
            payment_id,
            OPEN,
            status=PaymentStatus.CANCELED.value,
            open_order_id=None,
            **settled_columns(now),
        )

    async def check_again_at(self, payment_id: str, at: datetime) -> None:
        """The reconciler asked Stripe once more: the next time it asks, if still open."""
        checks = _payments.checks + 1
        await update_payment(self.session, payment_id, OPEN, check_after=at, checks=checks)
