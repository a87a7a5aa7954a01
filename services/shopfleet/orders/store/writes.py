"""Writing what a decision says: the order's row (a move only from the status and version
read), its history row and its events into the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.db import rowcount
from shopfleet.kit.outbox import Outbox
from shopfleet.orders.domain.order import (
    MAX_NOTE,
    Changes,
    Decision,
    OrderEvent,
    OrderRecord,
    Status,
    public_status,
)
from shopfleet.orders.domain.refusals import OrderChanged
from shopfleet.orders.models import HISTORY, ORDERS, HistoryEntry

orders = ORDERS.c


def _columns(changes: Changes) -> dict[str, object]:
    """`changes` as column values (JSON columns as JSON)."""
    return {
        column: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        for column, value in changes.items()
    }


async def save(
    session: AsyncSession, order: OrderRecord, decision: Decision, now: datetime
) -> OrderRecord:
    """Write what `decision` says about `order` (as read under lock): the row, its history
    row, its events into the outbox (they leave on commit); the order as it is now. A move
    is conditional on the status and version read: refused (`OrderChanged`) if another
    writer moved the order meanwhile."""
    if decision.cause is None:
        return order
    values = _columns(decision.changes) | {"version": order.version + 1, "updated_at": now}
    same_order = (orders.shop == order.shop, orders.id == order.id)
    unchanged = (*same_order, orders.version == order.version)
    if decision.target is not None:
        moved = sa.update(ORDERS).where(*unchanged, orders.status == order.status)
        result = await session.execute(moved.values(status=decision.target, **values))
        if rowcount(result) != 1:
            raise OrderChanged("The order changed while we worked on it; reload it and try again.")
    elif decision.changes:
        await session.execute(sa.update(ORDERS).where(*unchanged).values(values))
    stored = decision.applied_to(order, now)
    entry = history_entry(order, stored, decision, now)
    keys = {"shop": order.shop, "order_id": order.id}
    await session.execute(sa.insert(HISTORY).values(keys | entry.model_dump()))
    for event in decision.events:
        await _publish(session, order.shop, event)
    return stored


def history_entry(
    order: OrderRecord, stored: OrderRecord, decision: Decision, now: datetime
) -> HistoryEntry:
    """The history row `save` writes for `decision` (`order` as read, `stored` after)."""
    assert decision.cause is not None  # a decision without a cause writes nothing
    return HistoryEntry(
        status=public_status(stored.status),
        previous=None if order.status == Status.PLACING else public_status(order.status),
        cause=decision.cause,
        actor=decision.actor,
        note=decision.note[:MAX_NOTE] if decision.note else None,
        at=now,
    )


async def _publish(session: AsyncSession, shop: str, event: OrderEvent) -> None:
    """`event` into the outbox, on the one topic of its model."""
    match event:
        case ev.OrderStatusChanged():
            await Outbox.add(session, ev.ORDER_STATUS_CHANGED, event, shop=shop)
        case ev.OrderPlaced():
            await Outbox.add(session, ev.ORDER_PLACED, event, shop=shop)
        case ev.OrderPaid():
            await Outbox.add(session, ev.ORDER_PAID, event, shop=shop)
        case ev.OrderCancelled():
            await Outbox.add(session, ev.ORDER_CANCELLED, event, shop=shop)
        case _:
            assert_never(event)
