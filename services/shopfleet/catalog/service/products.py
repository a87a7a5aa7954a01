"""Admin CRUD of products, their prices, and the product as everyone reads it.

A deleted product keeps its row (orders refer to it): it reads with `deleted: true`, is
never listed, cannot be changed, and frees its slug and SKU for new products.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog import domain, emit
from shopfleet.catalog.cursors import encode_price_cursor
from shopfleet.catalog.deps import Catalog
from shopfleet.catalog.models import Product, name_key, search_text
from shopfleet.catalog.schemas import (
    PriceHistoryEntry,
    PriceHistoryPage,
    PriceUpdate,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    product_public,
)
from shopfleet.catalog.store import categories as category_store
from shopfleet.catalog.store import products as store
from shopfleet.kit.db import Database, utcnow
from shopfleet.kit.quotas import QuotaReader, lock_quota
from shopfleet.kit.tenant_data import QuotaUsage, Usage


async def find_product(
    session: AsyncSession, shop: str, product_id: str, *, lock: bool = False
) -> Product:
    product = await store.find_product(session, shop, product_id, lock=lock)
    if product is None:
        raise domain.ProductNotFound(shop, product_id)
    return product


async def live_product(session: AsyncSession, shop: str, product_id: str) -> Product:
    """The product, locked for a change; refused if absent or deleted."""
    product = await find_product(session, shop, product_id, lock=True)
    if product.deleted_at is not None:
        raise domain.ProductDeleted(product_id)
    return product


async def _check_unique(
    session: AsyncSession, shop: str, *, slug: str | None, sku: str | None, exclude: str = ""
) -> None:
    for field, value in (("slug", slug), ("sku", sku)):
        if value is not None and await store.holder_of(
            session, shop, field, value, exclude=exclude
        ):
            raise domain.ValueTaken(f"body.{field}", value)


async def _check_categories(session: AsyncSession, shop: str, ids: list[str]) -> None:
    domain.check_categories_known(await category_store.unknown_categories(session, shop, ids))


async def _commit_unique(session: AsyncSession, product: Product) -> None:
    """Commit; a slug or SKU taken concurrently is refused naming it."""
    slug, sku, shop, pid = product.slug, product.sku, product.shop, product.id
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await _check_unique(session, shop, slug=slug, sku=sku, exclude=pid)
        raise domain.ProductChanged() from None


async def check_products_quota(session: AsyncSession, catalog: Catalog, shop: str) -> None:
    """Counted under the shop's quota lock, held until this transaction inserts the product
    and commits."""
    limit = (await catalog.quotas.get(shop)).products
    if limit is None:
        return
    await lock_quota(session, "products", shop)
    domain.check_products_quota(await store.live_products(session, shop), limit)


async def create_product(
    session: AsyncSession, catalog: Catalog, shop: str, body: ProductCreate, *, actor: str
) -> ProductPublic:
    currency = await catalog.shops.currency(shop)
    domain.check_currency("body.price.currency", currency, body.price.currency)
    await check_products_quota(session, catalog, shop)
    await _check_categories(session, shop, body.category_ids)
    await _check_unique(session, shop, slug=body.slug, sku=body.sku)
    if body.slug is None:
        base = domain.slugify(body.name)
        slug = domain.free_slug(base, await store.slugs_like(session, shop, base))
    else:
        slug = body.slug
    now = utcnow()
    threshold = body.low_stock_threshold
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
            threshold if threshold is not None else catalog.settings.default_low_stock_threshold
        ),
        weight_grams=body.weight_grams,
        search_text=search_text(body.name, body.description, body.sku),
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(product)
    await session.flush()
    await category_store.link(session, shop, product.id, body.category_ids)
    store.add_price(session, product, actor=actor)
    await emit.product_updated(session, product)
    await _commit_unique(session, product)
    return product_public(product, [], admin=True)


async def usage(db: Database, quotas: QuotaReader, shop: str) -> Usage:
    """Live products against `quotas.products`."""
    limit = (await quotas.get(shop)).products
    async with db.reader() as session:
        used = await store.live_products(session, shop)
    return Usage(products=QuotaUsage(used=used, limit=limit))


async def update_product(
    session: AsyncSession, shop: str, product_id: str, changes: ProductUpdate
) -> ProductPublic:
    wanted = changes.model_dump(exclude_unset=True)
    product = await live_product(session, shop, product_id)
    if "category_ids" in wanted:
        await _check_categories(session, shop, wanted["category_ids"])
    await _check_unique(
        session, shop, slug=wanted.get("slug"), sku=wanted.get("sku"), exclude=product_id
    )
    fields = domain.changed_fields(product, wanted)
    if fields:
        for key, value in fields.items():
            setattr(product, key, value)
        product.name_key = name_key(product.name)
        product.search_text = search_text(product.name, product.description, product.sku)
        if "category_ids" in fields:
            await category_store.link(session, shop, product.id, product.category_ids)
        product.version += 1
        product.updated_at = utcnow()
        await emit.product_updated(session, product)
        await _commit_unique(session, product)
    return product_public(product, await store.images_of(session, product_id), admin=True)


async def delete_product(session: AsyncSession, shop: str, product_id: str) -> None:
    """Soft delete; deleting a deleted product again changes nothing."""
    product = await find_product(session, shop, product_id, lock=True)
    if product.deleted_at is not None:
        return
    product.deleted_at = product.updated_at = utcnow()
    product.version += 1
    await emit.product_deleted(session, product)
    await session.commit()


async def change_price(
    session: AsyncSession, shop: str, product_id: str, body: PriceUpdate, *, actor: str
) -> ProductPublic:
    """Prices are in the shop's currency; every change is kept in the price history."""
    product = await live_product(session, shop, product_id)
    domain.check_currency("body.currency", product.currency, body.currency)
    price = (body.amount, body.compare_at_amount)
    if price != (product.price_amount, product.compare_at_amount):
        product.price_amount, product.compare_at_amount = price
        product.version += 1
        product.updated_at = utcnow()
        store.add_price(session, product, actor=actor)
        await emit.product_updated(session, product)
        await session.commit()
    return product_public(product, await store.images_of(session, product_id), admin=True)


async def price_history(
    session: AsyncSession, shop: str, product_id: str, *, limit: int, before: int | None
) -> PriceHistoryPage:
    """The product's prices, newest first; `before`: the decoded cursor of the page before."""
    await find_product(session, shop, product_id)
    rows = await store.prices(session, shop, product_id, limit=limit + 1, before=before)
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
    next_cursor = encode_price_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return PriceHistoryPage(items=items, next_cursor=next_cursor)
