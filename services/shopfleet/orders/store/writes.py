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
)
from shopfleet.orders.domain.refusals import OrderChanged
from shopfleet.orders.models import HISTORY, ORDERS

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
    note = decision.note[:MAX_NOTE] if decision.note else None
    entry = dict(status=stored.status, cause=decision.cause, actor=decision.actor, note=note)
    await session.execute(sa.insert(HISTORY).values(_history_of(order, now) | entry))
    for event in decision.events:
        await _publish(session, order.shop, event)
    return stored


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


def _history_of(order: OrderRecord, now: datetime) -> dict[str, object]:
    """A history row's columns for `order`, as read before the change."""
    previous = None if order.status == Status.PLACING else order.status
    return {"shop": order.shop, "order_id": order.id, "previous": previous, "at": now}
