"""Stock's SQL: conditional updates of on-hand and reserved counts, reservations' rows and
the products' snapshots other services look up.

Each reserved line is one conditional UPDATE (`on_hand - reserved >= quantity`), so two
orders racing for the last units cannot both get them: on PostgreSQL the second UPDATE
waits for the first and re-checks the condition; on SQLite writers take turns. Every
update returns the product's event columns: the caller queues what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.catalog.domain import StockMove
from shopfleet.catalog.models import PRODUCTS_TABLE, Reservation

PRODUCTS = PRODUCTS_TABLE
_P = PRODUCTS.c
# What `emit` needs of a product: a row of these reads as the product does.
EVENT_COLUMNS = [
    _P[name]
    for name in (
        "id",
        "shop",
        "name",
        "slug",
        "sku",
        "price_amount",
        "currency",
        "active",
        "category_ids",
        "on_hand",
        "reserved",
        "low_stock_threshold",
        "created_at",
        "deleted_at",
        "version",
    )
]
SNAPSHOT_COLUMNS = [
    _P[name]
    for name in (
        "id",
        "name",
        "slug",
        "sku",
        "currency",
        "price_amount",
        "on_hand",
        "reserved",
        "active",
        "deleted_at",
        "thumbnail_image_id",
        "weight_grams",
    )
]


async def _move(
    session: AsyncSession,
    shop: str,
    product_id: str,
    change: dict[str, Any],
    *conditions: sa.ColumnElement[bool],
) -> sa.Row[Any] | None:
    update = (
        sa.update(PRODUCTS)
        .where(_P.id == product_id, _P.shop == shop, *conditions)
        .values(change)
        .returning(*EVENT_COLUMNS)
    )
    return (await session.execute(update)).first()


async def reserve_line(
    session: AsyncSession, shop: str, product_id: str, quantity: int, now: datetime
) -> sa.Row[Any] | None:
    """Reserve `quantity` units of a live, active product if that many are available; the
    product after, or None if it is short (or gone)."""
    change = {"reserved": _P.reserved + quantity, "version": _P.version + 1, "updated_at": now}
    return await _move(
        session,
        shop,
        product_id,
        change,
        _P.deleted_at.is_(None),
        _P.active.is_(True),
        _P.on_hand - _P.reserved >= quantity,
    )


async def move_line(
    session: AsyncSession,
    shop: str,
    product_id: str,
    quantity: int,
    move: StockMove,
    now: datetime,
) -> sa.Row[Any] | None:
    """Apply `move` to `quantity` units; None if fewer units are reserved than it frees."""
    change = {
        "on_hand": _P.on_hand + move.on_hand * quantity,
        "reserved": _P.reserved + move.reserved * quantity,
        "version": _P.version + 1,
        "updated_at": now,
    }
    guard = [_P.reserved >= quantity] if move.reserved < 0 else []
    return await _move(session, shop, product_id, change, *guard)


async def products_now(
    session: AsyncSession, shop: str, product_ids: Sequence[str]
) -> list[sa.Row[Any]]:
    """The products' event columns as they are now (ids not found are left out)."""
    query = sa.select(*EVENT_COLUMNS).where(_P.shop == shop, _P.id.in_(list(product_ids)))
    return list((await session.execute(query)).all())


async def locked_reservation(session: AsyncSession, shop: str, order_id: str) -> Reservation | None:
    return await session.scalar(
        sa.select(Reservation)
        .where(col(Reservation.shop) == shop, col(Reservation.order_id) == order_id)
        .with_for_update()
    )
