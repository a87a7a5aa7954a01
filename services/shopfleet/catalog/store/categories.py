"""The category projection's SQL: categories' tree as far as the catalog needs it, and
which products are in which category.

A row changes only for a newer `version` (events arrive twice or out of order); a deleted
category stays as a tombstone so that an older update arriving late cannot bring it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.catalog.models import CATEGORIES_TABLE, LINKS_TABLE, Product
from shopfleet.kit.contracts.events import CategoryDeleted, CategoryUpdated
from shopfleet.kit.db import excluded, upsert, utcnow

CATEGORIES = CATEGORIES_TABLE
LINKS = LINKS_TABLE


async def _upsert_newer(session: AsyncSession, values: dict[str, Any], update: list[str]) -> bool:
    """Insert the category, or update it if `values` are of a newer version; whether it did."""
    newer = excluded(session, CATEGORIES).version > CATEGORIES.c.version
    result = await session.execute(
        upsert(session, CATEGORIES, values, keys=["shop", "id"], update=update, where=newer)
    )
    return isinstance(result, CursorResult) and result.rowcount > 0


async def save_updated(session: AsyncSession, shop: str, event: CategoryUpdated) -> None:
    values = {
        "shop": shop,
        "id": event.category_id,
        "parent_id": event.parent_id,
        "slug": event.slug[:120],
        "version": event.version,
        "deleted": False,
        "updated_at": utcnow(),
    }
    await _upsert_newer(session, values, ["parent_id", "slug", "version", "deleted", "updated_at"])


async def save_deleted(session: AsyncSession, shop: str, event: CategoryDeleted) -> bool:
    """Tombstone the category; False if we hold a newer version (nothing changed)."""
    values = {
        "shop": shop,
        "id": event.category_id,
        "parent_id": None,
        "slug": "",
        "version": event.version,
        "deleted": True,
        "updated_at": utcnow(),
    }
    return await _upsert_newer(session, values, ["version", "deleted", "updated_at"])


async def unlink_category(session: AsyncSession, shop: str, category_id: str) -> list[Product]:
    """Take the category off every product: its links go, and its products are returned
    locked (in id order), for the caller to change their `category_ids`."""
    links = LINKS.c
    in_category = sa.and_(links.shop == shop, links.category_id == category_id)
    product_ids = list(
        (await session.scalars(sa.select(links.product_id).where(in_category))).all()
    )
    if not product_ids:
        return []
    await session.execute(sa.delete(LINKS).where(in_category))
    products = await session.scalars(
        sa.select(Product)
        .where(col(Product.shop) == shop, col(Product.id).in_(product_ids))
        .order_by(col(Product.id))
        .with_for_update()
    )
    return list(products)


async def unknown_categories(session: AsyncSession, shop: str, ids: Sequence[str]) -> list[str]:
    """Which of `ids` are not live categories of this shop, in the order given."""
    if not ids:
        return []
    known = set(
        (
            await session.scalars(
                sa.select(CATEGORIES.c.id).where(
                    CATEGORIES.c.shop == shop,
                    CATEGORIES.c.id.in_(list(ids)),
                    CATEGORIES.c.deleted.is_(False),
                )
            )
        ).all()
    )
    return [i for i in ids if i not in known]


def subtree_cte(shop: sa.ColumnElement[str] | str, category: sa.ColumnElement[str] | str) -> sa.CTE:
    """A recursive CTE of the category (by id or slug) and its live descendants' ids."""
    live = sa.and_(CATEGORIES.c.shop == shop, CATEGORIES.c.deleted.is_(False))
    root = (
        sa.select(CATEGORIES.c.id)
        .where(live, sa.or_(CATEGORIES.c.id == category, CATEGORIES.c.slug == category))
        .cte("tree", recursive=True)
    )
    child = CATEGORIES.alias("child")
    return root.union(  # UNION, not UNION ALL: a cycle in the projection cannot loop forever
        sa.select(child.c.id).where(
            child.c.shop == shop, child.c.deleted.is_(False), child.c.parent_id == root.c.id
        )
    )


async def subtree(session: AsyncSession, shop: str, category: str) -> list[str] | None:
    """The category (by id or slug) and all its live descendants; None if there is none."""
    tree = subtree_cte(shop, category)
    ids = (await session.scalars(sa.select(tree.c.id))).all()
    return list(ids) or None


async def link(session: AsyncSession, shop: str, product_id: str, ids: Sequence[str]) -> None:
    """Make `product_categories` say exactly `ids` for the product."""
    await session.execute(sa.delete(LINKS).where(LINKS.c.product_id == product_id))
    if ids:
        await session.execute(
            sa.insert(LINKS),
            [{"shop": shop, "product_id": product_id, "category_id": c} for c in ids],
        )
