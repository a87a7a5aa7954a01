"""Loading orders: one order (locked or not), its history, a page of a shop's list, and the
same loads on the fast read path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.money import Money
from shopfleet.kit.reads import FastReader
from shopfleet.orders.domain.access import OrderHeadline
from shopfleet.orders.domain.order import OrderRecord, Status, Stock
from shopfleet.orders.models import ORDERS, HistoryEntry, OrderListItem, OrderPublic
from shopfleet.orders.store.rows import FastRead, placed, statement

orders = ORDERS.c


async def load(
    session: AsyncSession, shop: str, order_id: str, *, lock: bool = False
) -> OrderRecord | None:
    """The placed order (`lock`: held until the transaction ends)."""
    query = statement(FastRead.ORDER)
    if lock:
        query = query.with_for_update()
    result = await session.execute(query, {"shop": shop, "order_id": order_id})
    return placed(result.mappings().all())


async def history_of(session: AsyncSession, shop: str, order_id: str) -> list[HistoryEntry]:
    values = {"shop": shop, "order_id": order_id}
    result = await session.execute(statement(FastRead.HISTORY), values)
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
        return placed(await self.reads.rows(FastRead.ORDER, statement, values))

    async def headline(self, shop: str, order_id: str) -> OrderHeadline | None:
        values = {"shop": shop, "order_id": order_id}
        rows = await self.reads.rows(FastRead.HEADLINE, statement, values)
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

    async def stock(self, shop: str, order_id: str) -> Stock | None:
        values = {"shop": shop, "order_id": order_id}
        rows = await self.reads.rows(FastRead.STOCK, statement, values)
        return Stock(rows[0]["stock"]) if rows else None

    async def history(self, shop: str, order_id: str) -> list[HistoryEntry]:
        values = {"shop": shop, "order_id": order_id}
        rows = await self.reads.rows(FastRead.HISTORY, statement, values)
        return [HistoryEntry.model_validate(row) for row in rows]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A page of a shop's orders, newest first: one user's (None: all), one status."""

    shop: str
    user: str | None
    status: str | None
    after: PageEnd | None
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
        at, last_id = page.after.at, page.after.id
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
