"""Prices: always in the shop's currency; every change is kept in the price history."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog import emit
from shopfleet.catalog.models import PriceChange
from shopfleet.catalog.products import find_product, images_of, live_product, to_public
from shopfleet.catalog.schemas import (
    PriceHistoryEntry,
    PriceHistoryPage,
    PriceUpdate,
    ProductPublic,
)
from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.db import utcnow
from shopfleet.kit.errors import field_problem


async def change_price(
    session: AsyncSession, shop: str, product_id: str, body: PriceUpdate, *, actor: str
) -> ProductPublic:
    product = await live_product(session, shop, product_id)
    if body.currency is not None and body.currency != product.currency:
        raise field_problem(
            422, "body.currency", f"this shop sells in {product.currency}, not {body.currency}"
        )
    same = (body.amount, body.compare_at_amount) == (
        product.price_amount,
        product.compare_at_amount,
    )
    if not same:
        now = utcnow()
        product.price_amount, product.compare_at_amount = body.amount, body.compare_at_amount
        product.version += 1
        product.updated_at = now
        session.add(
            PriceChange(
                shop=shop,
                product_id=product.id,
                amount=body.amount,
                compare_at_amount=body.compare_at_amount,
                currency=product.currency,
                changed_at=now,
                changed_by=actor,
            )
        )
        await emit.product_updated(session, product)
        await session.commit()
    return to_public(product, await images_of(session, product_id), admin=True)


def _encode(last_id: int) -> str:
    return pack_cursor(["p", last_id])


def _decode(cursor: str) -> int:
    try:
        kind, last_id = unpack_cursor(cursor)
        if kind != "p" or type(last_id) is not int or not 0 <= last_id < 2**62:
            raise ValueError(cursor)
        return last_id
    except ValueError:
        raise field_problem(
            400,
            "query.cursor",
            "not a valid cursor: pass the next_cursor of the previous page "
            "unchanged, or omit it to start at the first page",
            slug="bad-cursor",
        ) from None


async def price_history(
    session: AsyncSession, shop: str, product_id: str, *, limit: int, cursor: str | None
) -> PriceHistoryPage:
    """The product's prices, newest first."""
    await find_product(session, shop, product_id)
    table: sa.Table = PriceChange.__table__  # type: ignore[attr-defined]
    query = sa.select(table).where(table.c.product_id == product_id, table.c.shop == shop)
    if cursor:
        query = query.where(table.c.id < _decode(cursor))
    rows = (await session.execute(query.order_by(table.c.id.desc()).limit(limit + 1))).all()
    items = [
        PriceHistoryEntry(
            amount=r.amount,
            compare_at_amount=r.compare_at_amount,
            currency=r.currency,
            changed_at=r.changed_at,
            changed_by=r.changed_by,
        )
        for r in rows[:limit]
    ]
    next_cursor = _encode(rows[limit - 1].id) if len(rows) > limit else None
    return PriceHistoryPage(items=items, next_cursor=next_cursor)
