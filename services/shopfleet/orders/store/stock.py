"""An order's stock state: what catalog must still be told, and catalog's answer recorded
once (the service tells catalog after the commit; the sweeper retries what is pending)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.db import rowcount
from shopfleet.orders.domain.order import Stock
from shopfleet.orders.models import ORDERS

orders = ORDERS.c


@dataclass(frozen=True, slots=True)
class OrderKey:
    shop: str
    order_id: str


async def set_stock(session: AsyncSession, key: OrderKey, *, was: Stock, now: Stock) -> bool:
    """Record catalog's answer, unless another settlement recorded one first."""
    same = (orders.shop == key.shop, orders.id == key.order_id, orders.stock == was)
    return rowcount(await session.execute(sa.update(ORDERS).where(*same).values(stock=now))) == 1


async def stock_pending(session: AsyncSession, batch: int) -> list[OrderKey]:
    """Orders whose stock call to catalog is still to be made (oldest change first)."""
    pending = orders.stock.in_([Stock.RELEASE_PENDING, Stock.COMMIT_PENDING])
    query = sa.select(orders.shop, orders.id).where(pending).order_by(orders.updated_at)
    return [
        OrderKey(shop, order_id) for shop, order_id in await session.execute(query.limit(batch))
    ]
