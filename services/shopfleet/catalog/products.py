"""Admin CRUD of products and the product as everyone reads it.

A deleted product keeps its row (orders refer to it): it reads with `deleted: true`, is
never listed, cannot be changed, and frees its slug and SKU for new products.
"""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.catalog import categories, emit
from shopfleet.catalog.models import (
    PriceChange,
    Product,
    ProductImage,
    name_key,
    search_text,
)
from shopfleet.catalog.problems import product_deleted, product_not_found, taken
from shopfleet.catalog.schemas import (
    ImagePublic,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    StockLevels,
    image_url,
)
from shopfleet.catalog.service import Catalog
from shopfleet.kit.db import Database, utcnow
from shopfleet.kit.errors import Conflict, field_problem
from shopfleet.kit.money import Money
from shopfleet.kit.quotas import QuotaReader, lock_quota, quota_exceeded
from shopfleet.kit.tenant_data import QuotaUsage, Usage


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:100].strip("-") or "product"


async def _free_slug(session: AsyncSession, shop: str, base: str) -> str:
    """`base`, or `base-2`, `base-3`… whichever no live product of the shop has."""
    taken_slugs = set(
        (
            await session.scalars(
                sa.select(col(Product.slug)).where(
                    col(Product.shop) == shop,
                    col(Product.deleted_at).is_(None),
                    sa.or_(col(Product.slug) == base, col(Product.slug).startswith(base + "-")),
                )
            )
        ).all()
    )
    slug, n = base, 1
    while slug in taken_slugs:
        n += 1
        slug = f"{base}-{n}"
    return slug


async def _check_unique(
    session: AsyncSession, shop: str, *, slug: str | None, sku: str | None, exclude: str = ""
) -> None:
    for field, column, value in (
        ("body.slug", col(Product.slug), slug),
        ("body.sku", col(Product.sku), sku),
    ):
        if value is None:
            continue
        clash = await session.scalar(
            sa.select(col(Product.id)).where(
                col(Product.shop) == shop,
                column == value,
                col(Product.deleted_at).is_(None),
                col(Product.id) != exclude,
            )
        )
        if clash:
            raise taken(field, value)


async def _check_categories(session: AsyncSession, shop: str, ids: list[str]) -> None:
    unknown = await categories.unknown_categories(session, shop, ids)
    if unknown:
        raise field_problem(
            422,
            "body.category_ids",
            f"unknown category {', '.join(repr(c) for c in unknown)} (no such category in "
            "this shop; create it with POST /categories first)",
        )


async def _commit_unique(session: AsyncSession, product: Product) -> None:
    """Commit; a slug or SKU taken concurrently is a 409 naming it."""
    slug, sku, shop, pid = product.slug, product.sku, product.shop, product.id
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await _check_unique(session, shop, slug=slug, sku=sku, exclude=pid)
        raise Conflict("The product was changed concurrently; retry.") from None


async def create_product(
    session: AsyncSession, catalog: Catalog, shop: str, body: ProductCreate, *, actor: str
) -> ProductPublic:
    currency = await catalog.shops.currency(shop)
    if body.price.currency is not None and body.price.currency != currency:
        raise field_problem(
            422, "body.price.currency", f"this shop sells in {currency}, not {body.price.currency}"
        )
    await check_products_quota(session, catalog, shop)
    await _check_categories(session, shop, body.category_ids)
    await _check_unique(session, shop, slug=body.slug, sku=body.sku)
    slug = body.slug or await _free_slug(session, shop, slugify(body.name))
    now = utcnow()
    product = Product(
        shop=shop,
        name=body.name,
        name_key=name_key(body.name),
        slug=slug,
        description=body.description,
        sku=body.sku,
        currency=currency,
        price_amount=body.price.amount,
        compare_at_amount=body.compare_at_amount,
        attributes=body.attributes,
        active=body.active,
        category_ids=body.category_ids,
        on_hand=body.on_hand,
        reserved=0,
        low_stock_threshold=(
            body.low_stock_threshold
            if body.low_stock_threshold is not None
            else catalog.settings.default_low_stock_threshold
        ),
        weight_grams=body.weight_grams,
        search_text=search_text(body.name, body.description, body.sku),
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(product)
    await session.flush()
    await categories.link(session, shop, product.id, body.category_ids)
    session.add(
        PriceChange(
            shop=shop,
            product_id=product.id,
            amount=product.price_amount,
            compare_at_amount=product.compare_at_amount,
            currency=currency,
            changed_at=now,
            changed_by=actor,
        )
    )
    await emit.product_updated(session, product)
    await _commit_unique(session, product)
    return to_public(product, [], admin=True)


async def live_products(session: AsyncSession, shop: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(Product)
        .where(
            col(Product.shop) == shop,
            col(Product.deleted_at).is_(None),
        )
    )
    return int(await session.scalar(query) or 0)


async def usage(db: Database, quotas: QuotaReader, shop: str) -> Usage:
    """Live products against `quotas.products`."""
    limit = (await quotas.get(shop)).products
    async with db.reader() as session:
        used = await live_products(session, shop)
    return Usage(products=QuotaUsage(used=used, limit=limit))


async def check_products_quota(session: AsyncSession, catalog: Catalog, shop: str) -> None:
    """Refuse (409) a product beyond `quotas.products`; counted under the shop's quota lock,
    held until this transaction inserts the product and commits."""
    limit = (await catalog.quotas.get(shop)).products
    if limit is None:
        return
    await lock_quota(session, "products", shop)
    used = await live_products(session, shop)
    if used >= limit:
        raise quota_exceeded(
            409,
            "products",
            limit,
            used,
            f"This shop has {used} products and its quota (quotas.products) allows {limit}: "
            "delete a product, or raise the Shop's spec.quotas.products, to add another.",
        )


async def find_product(
    session: AsyncSession, shop: str, product_id: str, *, lock: bool = False
) -> Product:
    query = sa.select(Product).where(col(Product.id) == product_id, col(Product.shop) == shop)
    product = await session.scalar(query.with_for_update() if lock else query)
    if product is None:  # another shop's product is simply not here
        raise product_not_found(shop, product_id)
    return product


async def live_product(session: AsyncSession, shop: str, product_id: str) -> Product:
    """The product, locked for a change; 404 if absent, 409 if deleted."""
    product = await find_product(session, shop, product_id, lock=True)
    if product.deleted_at is not None:
        raise product_deleted(product_id)
    return product


async def images_of(session: AsyncSession, product_id: str) -> list[ProductImage]:
    query = (
        sa.select(ProductImage)
        .where(col(ProductImage.product_id) == product_id)
        .order_by(col(ProductImage.position), col(ProductImage.id))
    )
    return list((await session.scalars(query)).all())


async def get_product(
    session: AsyncSession, shop: str, product_id: str, *, admin: bool
) -> ProductPublic:
    product = await find_product(session, shop, product_id)
    return to_public(product, await images_of(session, product_id), admin=admin)


async def update_product(
    session: AsyncSession, shop: str, product_id: str, changes: ProductUpdate
) -> ProductPublic:
    fields = changes.model_dump(exclude_unset=True)
    product = await live_product(session, shop, product_id)
    if "category_ids" in fields:
        await _check_categories(session, shop, fields["category_ids"])
    await _check_unique(
        session, shop, slug=fields.get("slug"), sku=fields.get("sku"), exclude=product_id
    )
    fields = {k: v for k, v in fields.items() if getattr(product, k) != v}
    if fields:
        for key, value in fields.items():
            setattr(product, key, value)
        product.name_key = name_key(product.name)
        product.search_text = search_text(product.name, product.description, product.sku)
        if "category_ids" in fields:
            await categories.link(session, shop, product.id, product.category_ids)
        product.version += 1
        product.updated_at = utcnow()
        await emit.product_updated(session, product)
        await _commit_unique(session, product)
    return to_public(product, await images_of(session, product_id), admin=True)


async def delete_product(session: AsyncSession, shop: str, product_id: str) -> None:
    """Soft delete; deleting a deleted product again changes nothing."""
    product = await find_product(session, shop, product_id, lock=True)
    if product.deleted_at is not None:
        return
    product.deleted_at = product.updated_at = utcnow()
    product.version += 1
    await emit.product_deleted(session, product)
    await session.commit()


def to_public(product: Product, images: list[ProductImage], *, admin: bool) -> ProductPublic:
    shop, currency = product.shop, product.currency
    compare_at = product.compare_at_amount
    thumb = product.thumbnail_image_id
    return ProductPublic(
        id=product.id,
        name=product.name,
        slug=product.slug,
        description=product.description,
        sku=product.sku,
        price=Money(amount=product.price_amount, currency=currency),
        compare_at=None if compare_at is None else Money(amount=compare_at, currency=currency),
        attributes=product.attributes,
        active=product.active,
        deleted=product.deleted_at is not None,
        category_ids=product.category_ids,
        images=[image_public(shop, image) for image in images],
        thumbnail_url=image_url(shop, thumb, "thumb") if thumb else None,
        available=emit.available(product),
        weight_grams=product.weight_grams,
        stock=StockLevels(
            on_hand=product.on_hand,
            reserved=product.reserved,
            available=product.on_hand - product.reserved,
            low_stock_threshold=product.low_stock_threshold,
        )
        if admin
        else None,
        created_at=product.created_at,
        updated_at=product.updated_at,
        deleted_at=product.deleted_at,
        version=product.version,
    )


def image_public(shop: str, image: ProductImage) -> ImagePublic:
    return ImagePublic(
        id=image.id,
        url=image_url(shop, image.id, "full"),
        thumbnail_url=image_url(shop, image.id, "thumb"),
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        size_bytes=image.size_bytes,
        position=image.position,
    )
