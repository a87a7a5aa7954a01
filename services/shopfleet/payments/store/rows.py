"""The tables of payments, their rows as typed records, and the guarded update of a payment
both stores make."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.db import rowcount
from shopfleet.payments.domain.payment import (
    PaymentRecord,
    PaymentStatus,
    RefundReason,
    RefundRecord,
    RefundStatus,
)
from shopfleet.payments.models import PaymentsModel

payments_table = PaymentsModel.metadata.tables["payments"]
refunds_table = PaymentsModel.metadata.tables["payment_refunds"]
stripe_events_table = PaymentsModel.metadata.tables["stripe_events"]


def status_values(statuses: frozenset[PaymentStatus]) -> list[str]:
    return sorted(status.value for status in statuses)


def settled_columns(now: datetime) -> dict[str, Any]:
    """The columns of a payment (or refund) that Stripe's answer settled: no more checks."""
    return {"settled_at": now, "updated_at": now, "check_after": None}


def payment_record(row: sa.Row[Any], *, without: str | None = None) -> PaymentRecord:
    columns = {name: value for name, value in row._mapping.items() if name != without}
    return PaymentRecord(**{**columns, "status": PaymentStatus(columns["status"])})


def applied(payment: PaymentRecord, values: dict[str, Any]) -> PaymentRecord:
    """`payment` with the column values an update wrote (names are the record's fields)."""
    changes = dict(values)
    if "status" in changes:
        changes["status"] = PaymentStatus(changes["status"])
    return dataclasses.replace(payment, **changes)


def refund_record(row: sa.Row[Any]) -> RefundRecord:
    columns = dict(row._mapping)
    status, reason = RefundStatus(columns["status"]), RefundReason(columns["reason"])
    return RefundRecord(**{**columns, "status": status, "reason": reason})


async def changed(session: AsyncSession, statement: sa.Executable) -> bool:
    """Run an update (or insert); did it change a row?"""
    return rowcount(await session.execute(statement)) > 0


async def update_payment(
    session: AsyncSession,
    payment_id: str,
    sources: frozenset[PaymentStatus] | None,
    **values: Any,
) -> bool:
    """Update the payment if it is in one of `sources` (None: any); did it?"""
    statement = sa.update(payments_table).where(payments_table.c.id == payment_id)
    if sources is not None:
        statement = statement.where(payments_table.c.status.in_(status_values(sources)))
    return await changed(session, statement.values(**values))
