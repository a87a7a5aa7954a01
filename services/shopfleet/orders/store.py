"""All of orders' SQL: loads (with row locks), the writes a decision asks for (its history
and outbox rows with it), the placing row, the sweeper's queries, the limits' counts and
locks, and the statements of the fast read path.

Rows leave this module typed: `OrderRecord`, `HistoryEntry`, `OrderListItem`, `OpenOrder`.
Locks: `FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serializes writers, so a
cancel racing a payment sees the other's outcome either way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, assert_never

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.money import Money
from shopfleet.kit.outbox import Outbox
from shopfleet.kit.quotas import lock_quota, start_of_utc_day
from shopfleet.kit.reads import FastReader
from shopfleet.orders.domain.access import ListCursor, OrderHeadline
from shopfleet.orders.domain.checkout import Draft, OpenOrder
from shopfleet.orders.domain.order import (
    MAX_NOTE,
    OPEN_STATUSES,
    Cause,
    Changes,
    Decision,
    OrderEvent,
    OrderLine,
    OrderRecord,
    ShippingChoice,
    Status,
    Stock,
)
from shopfleet.orders.domain.refusals import OrderChanged
from shopfleet.orders.models import (
    HISTORY,
    ORDERS,
    HistoryEntry,
    OrderListItem,
    OrderPublic,
    new_id,
)

orders, history = ORDERS.c, HISTORY.c

# ----------------------------------------------------------------------------- reading


class FastRead(StrEnum):
    """The statements the fast read path compiles once (the key is their name)."""

    ORDER = "order"
    HEADLINE = "headline"  # what payments reads: no lines, no addresses
    HISTORY = "history"


_HEADLINE = (
    orders.id,
    orders.user_id,
    orders.status,
    orders.currency,
    orders.total_amount,
    orders.created_at,
    orders.expires_at,
)


def _statement(which: FastRead) -> sa.Select[Any]:
    """`which` with bind parameters `shop` and `order_id` (history: oldest first)."""
    shop: sa.BindParameter[Any] = sa.bindparam("shop")
    order_id: sa.BindParameter[Any] = sa.bindparam("order_id")
    if which is FastRead.HISTORY:
        by_order = (history.shop == shop, history.order_id == order_id)
        return sa.select(HISTORY).where(*by_order).order_by(history.id)
    columns = _HEADLINE if which is FastRead.HEADLINE else tuple(ORDERS.c)
    return sa.select(*columns).where(orders.shop == shop, orders.id == order_id)


def _record(row: Mapping[Any, Any]) -> OrderRecord:
    cause = row["cancel_cause"]
    return OrderRecord(
        id=row["id"],
        shop=row["shop"],
        user_id=row["user_id"],
        status=Status(row["status"]),
        stock=Stock(row["stock"]),
        currency=row["currency"],
        subtotal_amount=row["subtotal_amount"],
        shipping_amount=row["shipping_amount"],
        total_amount=row["total_amount"],
        refunded_amount=row["refunded_amount"],
        lines=tuple(OrderLine.model_validate(line) for line in row["lines"]),
        shipping_method_id=row["shipping_method_id"],
        shipping_method=ShippingChoice.model_validate(row["shipping_method"]),
        shipping_address=Address.model_validate(row["shipping_address"]),
        request_hash=row["request_hash"],
        payment_id=row["payment_id"],
        cancel_reason=row["cancel_reason"],
        cancel_cause=Cause(cause) if cause else None,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
        paid_at=row["paid_at"],
    )


def _placed(rows: Sequence[Mapping[Any, Any]]) -> OrderRecord | None:
    """The order among `rows` (0 or 1), unless it is still being placed (never shown)."""
    found = [_record(row) for row in rows]
    return found[0] if found and found[0].status != Status.PLACING else None


async def load(
    session: AsyncSession, shop: str, order_id: str, *, lock: bool = False
) -> OrderRecord | None:
    """The placed order (`lock`: held until the transaction ends)."""
    query = _statement(FastRead.ORDER)
    if lock:
        query = query.with_for_update()
    result = await session.execute(query, {"shop": shop, "order_id": order_id})
    return _placed(result.mappings().all())


async def load_placing(session: AsyncSession, shop: str, order_id: str) -> OrderRecord | None:
    """The order in whatever status, `placing` included, locked."""
    query = sa.select(ORDERS).where(orders.shop == shop, orders.id == order_id)
    found = (await session.execute(query.with_for_update())).mappings().first()
    return None if found is None else _record(found)


async def find_by_key(
    session: AsyncSession, shop: str, user_id: str, key: str
) -> OrderRecord | None:
    """The order this shopper's Idempotency-Key placed (or is placing)."""
    query = sa.select(ORDERS).where(
        orders.shop == shop, orders.user_id == user_id, orders.idempotency_key == key
    )
    found = (await session.execute(query)).mappings().first()
    return None if found is None else _record(found)


async def history_of(session: AsyncSession, shop: str, order_id: str) -> list[HistoryEntry]:
    values = {"shop": shop, "order_id": order_id}
    result = await session.execute(_statement(FastRead.HISTORY), values)
    return [HistoryEntry.model_validate(row) for row in result.mappings()]


async def public(session: AsyncSession, order: OrderRecord) -> OrderPublic:
    """The order as its shopper and the shop see it, its history included."""
    return OrderPublic.of(order, await history_of(session, order.shop, order.id))


class FastReads:
    """`load` and `history_of` on the fast read path (no session, no lock)."""

    def __init__(self, reads: FastReader) -> None:
        self.reads = reads

    async def order(self, shop: str, order_id: str) -> OrderRecord | None:
        values = {"shop": shop, "order_id": order_id}
        return _placed(await self.reads.rows(FastRead.ORDER, _statement, values))

    async def headline(self, shop: str, order_id: str) -> OrderHeadline | None:
        values = {"shop": shop, "order_id": order_id}
        rows = await self.reads.rows(FastRead.HEADLINE, _statement, values)
        if not rows or rows[0]["status"] == Status.PLACING:
            return None
        row = rows[0]
        return OrderHeadline(
            id=row["id"],
            user_id=row["user_id"],
            status=Status(row["status"]),
            total=Money(amount=row["total_amount"], currency=row["currency"]),
            placed_at=row["created_at"],
            expires_at=row["expires_at"],
        )

    async def history(self, shop: str, order_id: str) -> list[HistoryEntry]:
        values = {"shop": shop, "order_id": order_id}
        rows = await self.reads.rows(FastRead.HISTORY, _statement, values)
        return [HistoryEntry.model_validate(row) for row in rows]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A page of a shop's orders, newest first: one user's (None: all), one status."""

    shop: str
    user: str | None
    status: str | None
    after: ListCursor | None
    limit: int


async def list_page(session: AsyncSession, page: ListQuery) -> list[OrderListItem]:
    """Up to `limit + 1` items: one more than the page tells whether another follows."""
    columns = (orders.id, orders.user_id, orders.status, orders.currency, orders.total_amount)
    query = sa.select(*columns, orders.lines, orders.created_at, orders.updated_at).where(
        orders.shop == page.shop, orders.status != Status.PLACING
    )
    if page.user is not None:
        query = query.where(orders.user_id == page.user)
    if page.status is not None:
        query = query.where(orders.status == page.status)
    if page.after is not None:
        at, last_id = page.after.placed_at, page.after.order_id
        older = sa.and_(orders.created_at == at, orders.id < last_id)
        query = query.where(sa.or_(orders.created_at < at, older))
    query = query.order_by(orders.created_at.desc(), orders.id.desc()).limit(page.limit + 1)
    return [_list_item(row) for row in (await session.execute(query)).mappings().all()]


def _list_item(row: Mapping[Any, Any]) -> OrderListItem:
    return OrderListItem(
        id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        total=Money(amount=row["total_amount"], currency=row["currency"]),
        item_count=sum(line["quantity"] for line in row["lines"]),
        placed_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# ----------------------------------------------------------------------------- writing


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
        if _rowcount(result) != 1:
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


def _rowcount(result: sa.Result[Any]) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


# ----------------------------------------------------------------------------- placing


async def insert_placing(
    session: AsyncSession, draft: Draft, *, key: str | None, digest: str | None, now: datetime
) -> str:
    """The order's row in status `placing` (stock not reserved yet); its id."""
    order_id = new_id()
    total, shipping = draft.total, draft.shipping()
    values = dict(
        id=order_id,
        shop=draft.shop,
        user_id=draft.user_id,
        status=Status.PLACING,
        stock=Stock.NONE,
        currency=draft.priced.currency,
        subtotal_amount=draft.priced.subtotal.amount,
        shipping_amount=shipping.cost.amount,
        total_amount=total.amount,
        refunded_amount=0,
        lines=[line.model_dump(mode="json") for line in draft.priced.lines],
        shipping_method_id=shipping.method_id,
        shipping_method=shipping.model_dump(mode="json"),
        shipping_address=draft.address.model_dump(mode="json"),
        idempotency_key=key,
        request_hash=digest,
        cart_version=draft.cart_version,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await session.execute(sa.insert(ORDERS).values(values))
    return order_id


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


# ----------------------------------------------------------------------------- stock, sweeper


@dataclass(frozen=True, slots=True)
class OrderKey:
    shop: str
    order_id: str


async def stock_of(session: AsyncSession, key: OrderKey) -> Stock | None:
    query = sa.select(orders.stock).where(orders.shop == key.shop, orders.id == key.order_id)
    stock = await session.scalar(query)
    return None if stock is None else Stock(stock)


async def set_stock(session: AsyncSession, key: OrderKey, *, was: Stock, now: Stock) -> bool:
    """Record catalog's answer, unless another settlement recorded one first."""
    same = (orders.shop == key.shop, orders.id == key.order_id, orders.stock == was)
    return _rowcount(await session.execute(sa.update(ORDERS).where(*same).values(stock=now))) == 1


async def due_for_expiry(session: AsyncSession, now: datetime, batch: int) -> list[OrderRecord]:
    """Unpaid orders past their expiry, locked; those another sweeper holds are skipped."""
    due = (orders.status == Status.PENDING_PAYMENT, orders.expires_at <= now)
    query = sa.select(ORDERS).where(*due).order_by(orders.expires_at).limit(batch)
    found = await session.execute(query.with_for_update(skip_locked=True))
    return [_record(row) for row in found.mappings().all()]


async def stock_pending(session: AsyncSession, batch: int) -> list[OrderKey]:
    """Orders whose stock call to catalog is still to be made (oldest change first)."""
    pending = orders.stock.in_([Stock.RELEASE_PENDING, Stock.COMMIT_PENDING])
    query = sa.select(orders.shop, orders.id).where(pending).order_by(orders.updated_at)
    return [
        OrderKey(shop, order_id) for shop, order_id in await session.execute(query.limit(batch))
    ]


async def stale_placings(session: AsyncSession, cutoff: datetime, batch: int) -> list[OrderKey]:
    """Placings started before `cutoff`: their process gave up or died."""
    stale = (orders.status == Status.PLACING, orders.created_at < cutoff)
    query = sa.select(orders.shop, orders.id).where(*stale).limit(batch)
    return [OrderKey(shop, order_id) for shop, order_id in await session.execute(query)]
