"""Product images: upload (checked, thumbnailed, stored), delete, and serve.

The bytes go to the `ImageStore`; the table keeps what serving needs (keys, types, ETags).
A product shows its first image's thumbnail in listings (`products.thumbnail_image_id`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.catalog import emit
from shopfleet.catalog.imagestore import ImageStore
from shopfleet.catalog.imaging import (
    EXTENSIONS,
    THUMB_CONTENT_TYPE,
    NotAnImage,
    TooManyPixels,
    check_and_thumbnail,
    etag,
)
from shopfleet.catalog.models import ProductImage, new_id
from shopfleet.catalog.products import image_public, live_product
from shopfleet.catalog.schemas import ImagePublic
from shopfleet.catalog.service import Catalog
from shopfleet.kit.db import Database, utcnow
from shopfleet.kit.errors import Conflict, NotFound, Problem

log = structlog.get_logger("shopfleet.catalog.images")


async def add_image(
    session: AsyncSession, catalog: Catalog, shop: str, product_id: str, data: bytes
) -> ImagePublic:
    settings = catalog.settings
    await live_product(session, shop, product_id)  # 404/409 before any work
    await session.rollback()  # no transaction (SQLite: no write lock) while Pillow works
    try:
        checked = await asyncio.to_thread(
            check_and_thumbnail,
            data,
            thumb_px=settings.thumbnail_px,
            max_pixels=settings.max_image_pixels,
        )
    except NotAnImage as exc:
        raise Problem(
            415,
            f"The file is not an image we accept: {exc}. Upload a JPEG, PNG, WebP or GIF.",
            errors=[{"field": "body.file", "message": str(exc), "type": "not_an_image"}],
        ) from None
    except TooManyPixels as exc:
        raise Problem(
            413,
            f"The image has too many pixels ({exc}); upload a smaller one.",
            errors=[{"field": "body.file", "message": str(exc), "type": "too_large"}],
        ) from None

    image_id = new_id()
    prefix = f"{shop}/{product_id}/{image_id}"
    full_key = f"{prefix}/full.{EXTENSIONS[checked.content_type]}"
    thumb_key = f"{prefix}/thumb.webp"
    await catalog.images.put(full_key, data, checked.content_type)
    await catalog.images.put(thumb_key, checked.thumbnail, THUMB_CONTENT_TYPE)
    try:
        product = await live_product(session, shop, product_id)
        count, last = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.max(col(ProductImage.position))).where(
                    col(ProductImage.product_id) == product_id
                )
            )
        ).one()
        if count >= settings.max_images_per_product:
            raise Conflict(
                f"This product has {count} images, the most it may have; delete one first.",
                slug="too-many-images",
            )
        image = ProductImage(
            id=image_id,
            shop=shop,
            product_id=product_id,
            position=(last or 0) + 1,
            content_type=checked.content_type,
            width=checked.width,
            height=checked.height,
            size_bytes=len(data),
            full_key=full_key,
            full_etag=etag(data),
            thumb_key=thumb_key,
            thumb_content_type=THUMB_CONTENT_TYPE,
            thumb_etag=etag(checked.thumbnail),
            created_at=utcnow(),
        )
        session.add(image)
        if product.thumbnail_image_id is None:
            product.thumbnail_image_id = image_id
        product.version += 1
        product.updated_at = utcnow()
        await emit.product_updated(session, product)
        await session.commit()
    except BaseException:
        await _forget(catalog, full_key, thumb_key)
        raise
    return image_public(shop, image)


async def delete_image(
    session: AsyncSession, catalog: Catalog, shop: str, product_id: str, image_id: str
) -> None:
    product = await live_product(session, shop, product_id)
    image = await session.get(ProductImage, image_id)
    if image is None or image.product_id != product_id or image.shop != shop:
        raise NotFound(f"Product '{product_id}' has no image '{image_id}'.")
    keys = (image.full_key, image.thumb_key)
    await session.delete(image)
    await session.flush()
    if product.thumbnail_image_id == image_id:
        product.thumbnail_image_id = await session.scalar(
            sa.select(col(ProductImage.id))
            .where(col(ProductImage.product_id) == product_id)
            .order_by(col(ProductImage.position), col(ProductImage.id))
            .limit(1)
        )
    product.version += 1
    product.updated_at = utcnow()
    await emit.product_updated(session, product)
    await session.commit()
    await _forget(catalog, *keys)


async def _forget(catalog: Catalog, *keys: str) -> None:
    for key in keys:
        try:
            await catalog.images.delete(key)
        except Exception:  # a file left behind is untidy, not wrong
            log.warning("image file not deleted", key=key, exc_info=True)


@dataclass(frozen=True, slots=True)
class ImageFile:
    content_type: str
    etag: str
    key: str


async def find_image(
    session: AsyncSession, shop: str, image_id: str, size: Literal["thumb", "full"]
) -> ImageFile:
    image = await session.get(ProductImage, image_id)
    if image is None or image.shop != shop:
        raise NotFound(f"No image '{image_id}' in shop '{shop}'.")
    if size == "thumb":
        return ImageFile(image.thumb_content_type, f'"{image.thumb_etag}"', image.thumb_key)
    return ImageFile(image.content_type, f'"{image.full_etag}"', image.full_key)


async def read_image(catalog: Catalog, image: ImageFile) -> bytes:
    data = await catalog.images.get(image.key)
    if data is None:
        log.error("image file missing", key=image.key)
        raise NotFound("The image's file is missing; upload it again.")
    return data


def etag_matches(if_none_match: str | None, current: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or current in tags


async def delete_all(db: Database, store: ImageStore, shop: str) -> int:
    """Delete the files of every image of the shop (its rows go with the shop's purge,
    after this: a file is never left without the row that names it). Files deleted."""
    async with db.reader() as session:
        rows = await session.execute(
            sa.select(col(ProductImage.full_key), col(ProductImage.thumb_key)).where(
                col(ProductImage.shop) == shop
            )
        )
        keys = [key for row in rows for key in row]
    for key in keys:
        await store.delete(key)  # a missing file is no error (a purge retried)
    return len(keys)
