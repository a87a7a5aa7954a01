"""Products' SQL: loads with or without a lock, uniqueness of slug and SKU, the products
quota's count, the price history, images' rows and the shops projection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.catalog.models import (
    PRICES_TABLE,
    SHOPS_TABLE,
    PriceChange,
    Product,
    ProductImage,
    ShopRow,
)
from shopfleet.kit.contracts.tenants import ShopSettings
from shopfleet.kit.db import upsert, utcnow

# ----------------------------------------------------------------------------- products


async def find_product(
    session: AsyncSession, shop: str, product_id: str, *, lock: bool = False
) -> Product | None:
    query = sa.select(Product).where(col(Product.id) == product_id, col(Product.shop) == shop)
    return await session.scalar(query.with_for_update() if lock else query)


async def slugs_like(session: AsyncSession, shop: str, base: str) -> set[str]:
    """The slugs of live products of the shop that are `base` or `base-…`."""
    query = sa.select(col(Product.slug)).where(
        col(Product.shop) == shop,
        col(Product.deleted_at).is_(None),
        sa.or_(col(Product.slug) == base, col(Product.slug).startswith(base + "-")),
    )
    return set((await session.scalars(query)).all())


async def holder_of(
    session: AsyncSession, shop: str, field: str, value: str, *, exclude: str = ""
) -> str | None:
    """The id of another live product whose `field` (slug or sku) is `value`."""
    column = col(Product.slug) if field == "slug" else col(Product.sku)
    return await session.scalar(
        sa.select(col(Product.id)).where(
            col(Product.shop) == shop,
            column == value,
            col(Product.deleted_at).is_(None),
            col(Product.id) != exclude,
        )
    )


async def live_products(session: AsyncSession, shop: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(Product)
        .where(col(Product.shop) == shop, col(Product.deleted_at).is_(None))
    )
    return int(await session.scalar(query) or 0)


# ----------------------------------------------------------------------------- prices


def add_price(session: AsyncSession, product: Product, *, actor: str) -> None:
    """Keep the product's (new) price in its history."""
    session.add(
        PriceChange(
            shop=product.shop,
            product_id=product.id,
            amount=product.price_amount,
            compare_at_amount=product.compare_at_amount,
            currency=product.currency,
            changed_at=product.updated_at,
            changed_by=actor,
        )
    )


async def prices(
    session: AsyncSession, shop: str, product_id: str, *, limit: int, before: int | None
) -> list[sa.Row[Any]]:
    """Up to `limit` prices of the product, newest first, older than the id `before`."""
    table = PRICES_TABLE.c
    query = sa.select(PRICES_TABLE).where(table.product_id == product_id, table.shop == shop)
    if before is not None:
        query = query.where(table.id < before)
    return list((await session.execute(query.order_by(table.id.desc()).limit(limit))).all())


# ----------------------------------------------------------------------------- images


async def images_of(session: AsyncSession, product_id: str) -> list[ProductImage]:
    query = (
        sa.select(ProductImage)
        .where(col(ProductImage.product_id) == product_id)
        .order_by(col(ProductImage.position), col(ProductImage.id))
    )
    return list((await session.scalars(query)).all())


async def image_count_and_last(session: AsyncSession, product_id: str) -> tuple[int, int]:
    """How many images the product has, and the last one's position (0: none)."""
    count, last = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.max(col(ProductImage.position))).where(
                col(ProductImage.product_id) == product_id
            )
        )
    ).one()
    return int(count), int(last or 0)


async def first_image_id(session: AsyncSession, product_id: str) -> str | None:
    return await session.scalar(
        sa.select(col(ProductImage.id))
        .where(col(ProductImage.product_id) == product_id)
        .order_by(col(ProductImage.position), col(ProductImage.id))
        .limit(1)
    )


async def image_of_shop(session: AsyncSession, shop: str, image_id: str) -> ProductImage | None:
    image = await session.get(ProductImage, image_id)
    return image if image is not None and image.shop == shop else None


async def image_keys(session: AsyncSession, shop: str) -> list[str]:
    """The stored files' keys of every image of the shop."""
    rows = await session.execute(
        sa.select(col(ProductImage.full_key), col(ProductImage.thumb_key)).where(
            col(ProductImage.shop) == shop
        )
    )
    return [key for row in rows for key in row]


# ----------------------------------------------------------------------------- shops


async def shop_settings(session: AsyncSession, shop: str) -> ShopSettings | None:
    row = await session.get(ShopRow, shop)
    if row is None:
        return None
    return ShopSettings(shop=row.slug, display_name=row.display_name, currency=row.currency)


async def remember_shop(session: AsyncSession, shop: ShopSettings) -> None:
    values = {
        "slug": shop.shop,
        "display_name": shop.display_name[:120],
        "currency": shop.currency,
        "updated_at": utcnow(),
    }
    await session.execute(
        upsert(session, SHOPS_TABLE, values, keys=["slug"], update=["display_name", "currency"])
    )
