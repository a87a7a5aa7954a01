"""Product images: upload (checked, thumbnailed, stored), delete, and serve.

The bytes go to the `ImageStore`; the table keeps what serving needs (keys, types, ETags).
A product shows its first image's thumbnail in listings (`products.thumbnail_image_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog import domain, emit
from shopfleet.catalog.deps import Catalog
from shopfleet.catalog.imagestore import ImageStore
from shopfleet.catalog.imaging import EXTENSIONS, THUMB_CONTENT_TYPE, CheckedImage, etag
from shopfleet.catalog.models import ProductImage, new_id
from shopfleet.catalog.schemas import ImagePublic, image_public
from shopfleet.catalog.service.products import live_product
from shopfleet.catalog.store import products as store
from shopfleet.kit.db import Database, utcnow

log = structlog.get_logger("shopfleet.catalog.images")


async def check_product(session: AsyncSession, shop: str, product_id: str) -> None:
    """Refused (absent, deleted) before any work on the file; no transaction stays open
    (SQLite: no write lock) while Pillow works."""
    await live_product(session, shop, product_id)
    await session.rollback()


async def add_image(
    session: AsyncSession,
    catalog: Catalog,
    shop: str,
    product_id: str,
    data: bytes,
    checked: CheckedImage,
) -> ImagePublic:
    """Store an image `checked` at the edge (`uploads.checked_image`) and its thumbnail."""
    image_id = new_id()
    prefix = f"{shop}/{product_id}/{image_id}"
    full_key = f"{prefix}/full.{EXTENSIONS[checked.content_type]}"
    thumb_key = f"{prefix}/thumb.webp"
    await catalog.images.put(full_key, data, checked.content_type)
    await catalog.images.put(thumb_key, checked.thumbnail, THUMB_CONTENT_TYPE)
    try:
        product = await live_product(session, shop, product_id)
        count, last = await store.image_count_and_last(session, product_id)
        domain.check_image_room(count, catalog.settings.max_images_per_product)
        image = ProductImage(
            id=image_id,
            shop=shop,
            product_id=product_id,
            position=last + 1,
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
    image = await store.image_of_shop(session, shop, image_id)
    if image is None or image.product_id != product_id:
        raise domain.ImageNotFound(f"Product '{product_id}' has no image '{image_id}'.")
    keys = (image.full_key, image.thumb_key)
    await session.delete(image)
    await session.flush()
    if product.thumbnail_image_id == image_id:
        product.thumbnail_image_id = await store.first_image_id(session, product_id)
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
    image = await store.image_of_shop(session, shop, image_id)
    if image is None:
        raise domain.ImageNotFound(f"No image '{image_id}' in shop '{shop}'.")
    if size == "thumb":
        return ImageFile(image.thumb_content_type, f'"{image.thumb_etag}"', image.thumb_key)
    return ImageFile(image.content_type, f'"{image.full_etag}"', image.full_key)


async def read_image(catalog: Catalog, image: ImageFile) -> bytes:
    data = await catalog.images.get(image.key)
    if data is None:
        log.error("image file missing", key=image.key)
        raise domain.ImageNotFound("The image's file is missing; upload it again.")
    return data


async def delete_all(db: Database, files: ImageStore, shop: str) -> int:
    """Delete the files of every image of the shop (its rows go with the shop's purge,
    after this: a file is never left without the row that names it). Files deleted."""
    async with db.reader() as session:
        keys = await store.image_keys(session, shop)
    for key in keys:
        await files.delete(key)  # a missing file is no error (a purge retried)
    return len(keys)
