"""The products projection: what categories keeps from catalog's events, and its listing.

Catalog owns products. Categories keeps, per product, what a category listing shows
(`category_products`) and which of the shop's categories it is in
(`category_product_links`), from `product.updated` and `product.deleted`. Events may come
again or out of order: each carries the product's version, and a row changes only when an
event is newer than what it holds. A deleted product stays as a tombstone with its
version, so an older update that arrives late cannot bring it back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.categories.models import (
    Category,
    CategoryProduct,
    CategoryProductLink,
    ProductItem,
    ProductSort,
    ProductsPage,
)
from shopfleet.kit.contracts.events import ProductDeleted, ProductUpdated
from shopfleet.kit.contracts.ids import CATEGORY_ID_PATTERN, PRODUCT_ID_PATTERN
from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.db import excluded, upsert, utcnow

PRODUCTS = CategoryProduct.__table__  # type: ignore[attr-defined]
LINKS = CategoryProductLink.__table__  # type: ignore[attr-defined]
CATEGORIES = Category.__table__  # type: ignore[attr-defined]

_PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)
_CATEGORY_ID = re.compile(CATEGORY_ID_PATTERN)


def _upsert(session: AsyncSession, values: dict[str, Any], update: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (shop, product_id) DO UPDATE ... WHERE the event is newer."""
    return upsert(
        session,
        PRODUCTS,
        values,
        keys=[PRODUCTS.c.shop, PRODUCTS.c.product_id],
        update=update,
        where=PRODUCTS.c.version < excluded(session, PRODUCTS).version,
    )


class BadProductEvent(ValueError):
    """An event that can never apply (the consumer drops it)."""


def _storable(text: str) -> bool:
    """Text a database can hold: valid UTF-8 (no lone surrogates) and no NUL."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


_BIGINT = 2**63 - 1


def _check_ids(shop: str, product_id: str, version: int) -> None:
    if not shop or len(shop) > 40 or not _storable(shop):
        raise BadProductEvent(f"the event names no valid shop ({shop!r})")
    if not _PRODUCT_ID.fullmatch(product_id):
        raise BadProductEvent(f"not a product id: {product_id!r}")
    if not 0 <= version <= _BIGINT:
        raise BadProductEvent(f"not a version: {version}")


def _check_product(event: ProductUpdated) -> datetime:
    """What the projection cannot hold, it refuses; returns `created_at` in UTC."""
    texts = {"name": event.name, "slug": event.slug, "currency": event.currency}
    for field, text in texts.items():
        limit = 3 if field == "currency" else 255
        if len(text) > limit or not _storable(text):
            raise BadProductEvent(f"{field} is not text the projection can keep: {text!r:.80}")
    for field, number in (("price_amount", event.price_amount), ("available", event.available)):
        if abs(number) > _BIGINT:
            raise BadProductEvent(f"{field} out of range: {number}")
    created = event.created_at
    try:  # a time without an offset is taken as UTC
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise BadProductEvent(f"created_at out of range: {created}") from None


async def apply_product_updated(session: AsyncSession, shop: str, event: ProductUpdated) -> bool:
    """Apply `product.updated` if newer than what we hold; True if it changed anything."""
    _check_ids(shop, event.product_id, event.version)
    created_at = _check_product(event)
    values = dict(
        shop=shop,
        product_id=event.product_id,
        name=event.name,
        slug=event.slug,
        price_amount=event.price_amount,
        currency=event.currency,
        active=event.active,
        available=event.available,
        created_at=created_at,
        version=event.version,
        deleted=False,
        projected_at=utcnow(),
    )
    update = [k for k in values if k not in ("shop", "product_id")]
    result = await session.execute(_upsert(session, values, update))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False  # we hold this version or a newer one
    await session.execute(_unlink_product(shop, event.product_id))
    wanted = sorted({c for c in event.category_ids if _CATEGORY_ID.fullmatch(c)})
    if wanted:
        # Only categories of this shop that exist: an id we never issued links nothing.
        known = await session.scalars(
            sa.select(CATEGORIES.c.id).where(CATEGORIES.c.shop == shop, CATEGORIES.c.id.in_(wanted))
        )
        rows = [dict(shop=shop, product_id=event.product_id, category_id=c) for c in known]
        if rows:
            await session.execute(sa.insert(LINKS), rows)
    return True


async def apply_product_deleted(session: AsyncSession, shop: str, event: ProductDeleted) -> bool:
    """Apply `product.deleted` if newer: a tombstone at its version, and no more links."""
    _check_ids(shop, event.product_id, event.version)
    values = dict(
        shop=shop,
        product_id=event.product_id,
        name="",
        slug="",
        price_amount=0,
        currency="",
        active=False,
        available=0,
        created_at=utcnow(),
        version=event.version,
        deleted=True,
        projected_at=utcnow(),
    )
    stmt = _upsert(session, values, ["active", "version", "deleted", "projected_at"])
    result = await session.execute(stmt)
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(_unlink_product(shop, event.product_id))
    return True


def _unlink_product(shop: str, product_id: str) -> sa.Delete:
    return sa.delete(LINKS).where(LINKS.c.shop == shop, LINKS.c.product_id == product_id)


# ----------------------------------------------------------------------------- for the tree


async def count_linked(session: AsyncSession, shop: str, category_id: str) -> int:
    """Products (live, active or not) directly in a category."""
    return int(
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(LINKS)
            .where(LINKS.c.shop == shop, LINKS.c.category_id == category_id)
        )
        or 0
    )


async def unlink(session: AsyncSession, shop: str, category_ids: Sequence[str]) -> int:
    """Remove every product link to these categories; returns how many went."""
    if not category_ids:
        return 0
    result = await session.execute(
        sa.delete(LINKS).where(LINKS.c.shop == shop, LINKS.c.category_id.in_(list(category_ids)))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- listing


class BadCursor(ValueError):
    pass


_KEYS = {
    ProductSort.NAME: PRODUCTS.c.name,
    ProductSort.PRICE: PRODUCTS.c.price_amount,
    ProductSort.PRICE_DESC: PRODUCTS.c.price_amount,
    ProductSort.NEWEST: PRODUCTS.c.created_at,
}
_DESCENDING = {ProductSort.PRICE_DESC, ProductSort.NEWEST}


def encode_cursor(sort: ProductSort, key: Any, product_id: str) -> str:
    if isinstance(key, datetime):
        key = key.isoformat()
    return pack_cursor([sort.value, key, product_id])


def decode_cursor(cursor: str, sort: ProductSort) -> tuple[Any, str]:
    """The (sort key, product id) a page ended at; BadCursor for anything we did not issue."""
    try:
        issued_sort, key, product_id = unpack_cursor(cursor)
    except ValueError:
        raise BadCursor("not a cursor issued by this API") from None
    if issued_sort != sort.value:
        raise BadCursor(f"this cursor belongs to sort={issued_sort!r}, not sort={sort.value!r}")
    if not isinstance(product_id, str) or not _PRODUCT_ID.fullmatch(product_id):
        raise BadCursor("not a cursor issued by this API")
    if sort is ProductSort.NAME:
        ok = isinstance(key, str) and len(key) <= 255 and _storable(key)
    elif sort is ProductSort.NEWEST:
        try:
            key = datetime.fromisoformat(key) if isinstance(key, str) else None
            ok = key is not None and key.tzinfo is not None and bool(key.astimezone(UTC))
        except (ValueError, OverflowError):
            ok = False
    else:
        ok = isinstance(key, int) and not isinstance(key, bool) and abs(key) < 2**62
    if not ok:
        raise BadCursor("not a cursor issued by this API")
    return key, product_id


async def list_products(
    session: AsyncSession,
    shop: str,
    category_ids: Sequence[str],
    *,
    sort: ProductSort,
    limit: int,
    cursor: str | None,
) -> ProductsPage:
    """A page of active products in any of `category_ids`, each once, in `sort` order."""
    after = decode_cursor(cursor, sort) if cursor else None
    key = _KEYS[sort]
    in_categories = (
        sa.select(sa.literal(1))
        .where(
            LINKS.c.shop == PRODUCTS.c.shop,
            LINKS.c.product_id == PRODUCTS.c.product_id,
            LINKS.c.category_id.in_(list(category_ids)),
        )
        .exists()
    )
    query = sa.select(
        PRODUCTS.c.product_id,
        PRODUCTS.c.name,
        PRODUCTS.c.slug,
        PRODUCTS.c.price_amount,
        PRODUCTS.c.currency,
        PRODUCTS.c.available,
        key.label("sort_key"),
    ).where(
        PRODUCTS.c.shop == shop,
        PRODUCTS.c.active.is_(True),
        PRODUCTS.c.deleted.is_(False),
        in_categories,
    )
    if after is not None:
        value, after_id = after
        beyond = key < value if sort in _DESCENDING else key > value
        query = query.where(sa.or_(beyond, sa.and_(key == value, PRODUCTS.c.product_id > after_id)))
    order = key.desc() if sort in _DESCENDING else key.asc()
    query = query.order_by(order, PRODUCTS.c.product_id).limit(limit + 1)
    rows = (await session.execute(query)).all()
    items = [
        ProductItem(
            id=row.product_id,
            name=row.name,
            slug=row.slug,
            price_amount=row.price_amount,
            currency=row.currency,
            available=row.available,
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(sort, last.sort_key, last.product_id)
    return ProductsPage(items=items, next_cursor=next_cursor)
