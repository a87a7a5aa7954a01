"""The events the catalog publishes: its rows made into their topics' payloads, queued in
the caller's transaction through the kit's one publish path (`Outbox.add`, typed).

Every change to a product bumps its `version` and queues `product.updated` (or
`product.deleted`) with it, so consumers apply only what is newer than what they hold.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog.domain import available, fell_low
from shopfleet.kit.contracts.events import (
    PRODUCT_DELETED,
    PRODUCT_UPDATED,
    STOCK_LOW,
    ProductDeleted,
    ProductUpdated,
    StockLow,
)
from shopfleet.kit.outbox import Outbox


async def product_updated(session: AsyncSession, product: Any) -> None:
    """`product` is a `Product` or a row with the same columns."""
    payload = ProductUpdated(
        product_id=product.id,
        name=product.name,
        slug=product.slug,
        sku=product.sku,
        price_amount=product.price_amount,
        currency=product.currency,
        active=product.active,
        category_ids=list(product.category_ids),
        available=available(product),
        created_at=product.created_at,
        version=product.version,
    )
    await Outbox.add(session, PRODUCT_UPDATED, payload, shop=product.shop)


async def product_deleted(session: AsyncSession, product: Any) -> None:
    payload = ProductDeleted(product_id=product.id, version=product.version)
    await Outbox.add(session, PRODUCT_DELETED, payload, shop=product.shop)


async def stock_changed(session: AsyncSession, product: Any, before: int) -> None:
    """`product.updated` if availability moved from `before`, plus `stock.low` if it fell
    to low. A change that leaves availability as it was (a paid order's units leaving
    both on-hand and reserved) tells consumers nothing, so it is not sent."""
    after = available(product)
    if after == before:
        return
    await product_updated(session, product)
    if fell_low(before, after, product.low_stock_threshold):
        payload = StockLow(
            product_id=product.id, available=after, threshold=product.low_stock_threshold
        )
        await Outbox.add(session, STOCK_LOW, payload, shop=product.shop)
