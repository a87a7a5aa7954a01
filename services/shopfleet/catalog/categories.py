"""The category projection: categories' tree as far as the catalog needs it.

Filled from `category.updated` / `category.deleted`. Events can arrive twice or out of
order, so a row changes only for a newer `version`; a deleted category stays as a
tombstone so that an older update arriving late cannot bring it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.catalog import emit
from shopfleet.catalog.models import CategoryRow, Product, ProductCategory
from shopfleet.kit.contracts.events import CategoryDeleted, CategoryUpdated
from shopfleet.kit.db import excluded, upsert, utcnow

CATEGORIES: sa.Table = CategoryRow.__table__  # type: ignore[attr-defined]
LINKS: sa.Table = ProductCategory.__table__  # type: ignore[attr-defined]


async def apply_updated(session: AsyncSession, shop: str, event: CategoryUpdated) -> None:
    values = {
        "shop": shop,
        "id": event.category_id,
        "parent_id": event.parent_id,
        "slug": event.slug[:120],
        "version": event.version,
        "deleted": False,
        "updated_at": utcnow(),
    }
    newer = excluded(session, CATEGORIES).version > CATEGORIES.c.version
    await session.execute(
        upsert(
            session,
            CATEGORIES,
            values,
            keys=["shop", "id"],
            update=["parent_id", "slug", "version", "deleted", "updated_at"],
            where=newer,
        )
    )


async def apply_deleted(session: AsyncSession, shop: str, event: CategoryDeleted) -> list[str]:
    """Tombstone the category and take it off its products; returns the products changed."""
    values = {
        "shop": shop,
        "id": event.category_id,
        "parent_id": None,
        "slug": "",
        "version": event.version,
        "deleted": True,
        "updated_at": utcnow(),
    }
    newer = excluded(session, CATEGORIES).version > CATEGORIES.c.version
    result = await session.execute(
        upsert(
            session,
            CATEGORIES,
            values,
            keys=["shop", "id"],
            update=["version", "deleted", "updated_at"],
            where=newer,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return []  # an older event than what we hold: nothing changes
    product_ids = (
        await session.scalars(
            sa.select(LINKS.c.product_id).where(
                LINKS.c.shop == shop, LINKS.c.category_id == event.category_id
            )
        )
    ).all()
    if not product_ids:
        return []
    await session.execute(
        sa.delete(LINKS).where(LINKS.c.shop == shop, LINKS.c.category_id == event.category_id)
    )
    products = await session.scalars(
        sa.select(Product)
        .where(col(Product.shop) == shop, col(Product.id).in_(product_ids))
        .order_by(col(Product.id))
        .with_for_update()
    )
    now = utcnow()
    for product in products:
        product.category_ids = [c for c in product.category_ids if c != event.category_id]
        product.version += 1
        product.updated_at = now
        await emit.product_updated(session, product)
    return list(product_ids)


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


def subtree_cte(shop: Any, category: Any) -> Any:
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
