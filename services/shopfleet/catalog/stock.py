"""Stock levels: admins set what is on hand; buyers see what is available.

`available = on_hand - reserved`: units held for orders (see `reservations`) are not for
sale. On hand can never go below what is reserved.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog import emit
from shopfleet.catalog.models import Product
from shopfleet.catalog.products import images_of, live_product, to_public
from shopfleet.catalog.schemas import ProductPublic, image_url
from shopfleet.kit.contracts.catalog import (
    ProductLookupResult,
    ProductSnapshot,
)
from shopfleet.kit.contracts.ids import PRODUCT_ID_PATTERN
from shopfleet.kit.db import utcnow
from shopfleet.kit.errors import Conflict
from shopfleet.kit.money import Money

PRODUCTS: sa.Table = Product.__table__  # type: ignore[attr-defined]


async def set_stock(
    session: AsyncSession, shop: str, product_id: str, on_hand: int
) -> ProductPublic:
    product = await live_product(session, shop, product_id)  # locked until commit
    if on_hand < product.reserved:
        raise Conflict(
            f"Cannot set on_hand to {on_hand}: {product.reserved} units are reserved for "
            f"orders; on_hand must be at least {product.reserved}.",
            slug="stock-below-reserved",
            errors=[
                {
                    "field": "body.on_hand",
                    "message": f"must be at least {product.reserved}",
                    "type": "conflict",
                }
            ],
        )
    if on_hand != product.on_hand:
        before = emit.available(product)
        product.on_hand = on_hand
        product.version += 1
        product.updated_at = utcnow()
        await emit.stock_changed(session, product, before)
        await session.commit()
    return to_public(product, await images_of(session, product_id), admin=True)


_SNAPSHOT_COLUMNS = [
    PRODUCTS.c[name]
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


async def lookup(session: AsyncSession, shop: str, ids: list[str]) -> ProductLookupResult:
    """Snapshots of the products asked for; deleted ones read as inactive, unknown ones missing."""
    wanted = [i for i in dict.fromkeys(ids) if re.fullmatch(PRODUCT_ID_PATTERN, i)]
    rows = (
        await session.execute(
            sa.select(*_SNAPSHOT_COLUMNS).where(PRODUCTS.c.shop == shop, PRODUCTS.c.id.in_(wanted))
        )
    ).all()
    found = {row.id: row for row in rows}
    items = [
        ProductSnapshot(
            id=row.id,
            name=row.name,
            slug=row.slug,
            sku=row.sku,
            price=Money(amount=row.price_amount, currency=row.currency),
            available=emit.available(row),
            active=row.active and row.deleted_at is None,
            image_url=image_url(shop, row.thumbnail_image_id, "thumb")
            if row.thumbnail_image_id
            else None,
            weight_grams=row.weight_grams,
        )
        for row in (found[i] for i in wanted if i in found)
    ]
    missing = [i for i in dict.fromkeys(ids) if i not in found]
    return ProductLookupResult(items=items, missing=missing)
