"""What the sweeper finishes besides stock: unpaid orders past their expiry, and placings
whose process gave up or died."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.orders.domain.order import OrderRecord, Status
from shopfleet.orders.models import ORDERS
from shopfleet.orders.store.rows import record_of
from shopfleet.orders.store.stock import OrderKey

orders = ORDERS.c


async def due_for_expiry(session: AsyncSession, now: datetime, batch: int) -> list[OrderRecord]:
    """Unpaid orders past their expiry, locked; those another sweeper holds are skipped."""
    due = (orders.status == Status.PENDING_PAYMENT, orders.expires_at <= now)
    query = sa.select(ORDERS).where(*due).order_by(orders.expires_at).limit(batch)
    found = await session.execute(query.with_for_update(skip_locked=True))
    return [record_of(row) for row in found.mappings().all()]


async def stale_placings(session: AsyncSession, cutoff: datetime, batch: int) -> list[OrderKey]:
    """Placings started before `cutoff`: their process gave up or died."""
    stale = (orders.status == Status.PLACING, orders.created_at < cutoff)
    query = sa.select(orders.shop, orders.id).where(*stale).limit(batch)
    return [OrderKey(shop, order_id) for shop, order_id in await session.execute(query)]
