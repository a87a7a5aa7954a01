"""Placing an order: its row while it is being placed, the shopper's lock and the day's count
the limits check, the shopper's open orders, and the order an Idempotency-Key placed."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.quotas import lock_quota, start_of_utc_day
from shopfleet.orders.domain.checkout import Draft, OpenOrder
from shopfleet.orders.domain.order import OPEN_STATUSES, OrderRecord, Status, Stock
from shopfleet.orders.models import ORDERS, new_id
from shopfleet.orders.store.rows import record_of

orders = ORDERS.c


async def insert_placing(
    session: AsyncSession, draft: Draft, *, key: str | None, digest: str | None, now: datetime
) -> OrderRecord:
    """The order's row in status `placing` (stock not reserved yet), as written."""
    total, shipping = draft.total, draft.shipping()
    placing = OrderRecord(
        id=new_id(),
        shop=draft.shop,
        user_id=draft.user_id,
        status=Status.PLACING,
        stock=Stock.NONE,
        currency=draft.priced.currency,
        subtotal_amount=draft.priced.subtotal.amount,
        shipping_amount=shipping.cost.amount,
        total_amount=total.amount,
        refunded_amount=0,
        lines=tuple(draft.priced.lines),
        shipping_method_id=shipping.method_id,
        shipping_method=shipping,
        shipping_address=draft.address,
        request_hash=digest,
        payment_id=None,
        cancel_reason=None,
        cancel_cause=None,
        version=1,
        created_at=now,
        updated_at=now,
        expires_at=None,
        paid_at=None,
    )
    values = dict(
        id=placing.id,
        shop=placing.shop,
        user_id=placing.user_id,
        status=placing.status,
        stock=placing.stock,
        currency=placing.currency,
        subtotal_amount=placing.subtotal_amount,
        shipping_amount=placing.shipping_amount,
        total_amount=placing.total_amount,
        refunded_amount=0,
        lines=[line.model_dump(mode="json") for line in placing.lines],
        shipping_method_id=placing.shipping_method_id,
        shipping_method=shipping.model_dump(mode="json"),
        shipping_address=draft.address.model_dump(mode="json"),
        idempotency_key=key,
        request_hash=digest,
        cart_version=draft.cart_version,
        version=placing.version,
        created_at=now,
        updated_at=now,
    )
    await session.execute(sa.insert(ORDERS).values(values))
    return placing


async def forget_placing(session: AsyncSession, shop: str, order_id: str) -> None:
    """Delete a placing that failed (never an order that was placed)."""
    placing = (orders.shop == shop, orders.id == order_id, orders.status == Status.PLACING)
    await session.execute(sa.delete(ORDERS).where(*placing))


async def lock_shopper(session: AsyncSession, shop: str, user_id: str) -> None:
    """Serialize placings of one shopper until the transaction ends (PostgreSQL's advisory
    lock; on SQLite the writing transaction holds the database's write lock already)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"orders.place:{shop}:{user_id}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def lock_daily_quota(session: AsyncSession, shop: str) -> None:
    """Serialize the count of today's orders and the insert it allows, per shop."""
    await lock_quota(session, "ordersPerDay", shop)


async def orders_today(session: AsyncSession, shop: str, now: datetime) -> int:
    """The shop's orders since 00:00 UTC, those being placed included."""
    today = (orders.shop == shop, orders.created_at >= start_of_utc_day(now))
    return int(await session.scalar(sa.select(sa.func.count()).where(*today)) or 0)


async def open_orders(session: AsyncSession, shop: str, user_id: str) -> list[OpenOrder]:
    """The shopper's orders that hold stock without payment, oldest first."""
    columns = (orders.id, orders.status, orders.cart_version, orders.idempotency_key)
    query = sa.select(*columns).where(
        orders.shop == shop, orders.user_id == user_id, orders.status.in_(OPEN_STATUSES)
    )
    rows = (await session.execute(query.order_by(orders.created_at, orders.id))).all()
    return [
        OpenOrder(
            id=row.id,
            status=Status(row.status),
            cart_version=row.cart_version,
            idempotency_key=row.idempotency_key,
        )
        for row in rows
    ]


async def find_by_key(
    session: AsyncSession, shop: str, user_id: str, key: str
) -> OrderRecord | None:
    """The order this shopper's Idempotency-Key placed (or is placing)."""
    query = sa.select(ORDERS).where(
        orders.shop == shop, orders.user_id == user_id, orders.idempotency_key == key
    )
    found = (await session.execute(query)).mappings().first()
    return None if found is None else record_of(found)
