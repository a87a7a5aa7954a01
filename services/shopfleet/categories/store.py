"""All of categories' SQL: the tree (loaded whole, as records), its lock and revision, and
the products projection (conditional upserts, links, the listing's keyset pages).

The caller owns the transaction (the session). A shop's tree writes are serialized on its
`category_trees` row (`lock_tree`: PostgreSQL row lock; SQLite's BEGIN IMMEDIATE serializes
anyway), so two concurrent moves can never build a cycle between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.categories.domain.products import (
    DESCENDING,
    ProductSort,
    ProjectedProduct,
    SortKey,
    encode_cursor,
)
from shopfleet.categories.domain.rules import Categories, CategoryRecord
from shopfleet.categories.models import CategoriesModel, ProductItem, ProductsPage
from shopfleet.kit.db import dialect_insert, excluded, rowcount, upsert

categories_table = CategoriesModel.metadata.tables["categories"]
trees_table = CategoriesModel.metadata.tables["category_trees"]
products_table = CategoriesModel.metadata.tables["category_products"]
links_table = CategoriesModel.metadata.tables["category_product_links"]
_categories, _trees = categories_table.c, trees_table.c
_products, _links = products_table.c, links_table.c

_RECORD_COLUMNS = [_categories[name] for name in CategoryRecord.__dataclass_fields__]


# ----------------------------------------------------------------------------- the tree


async def load_tree(session: AsyncSession, shop: str) -> Categories:
    query = sa.select(*_RECORD_COLUMNS).where(_categories.shop == shop)
    rows = (await session.execute(query)).mappings()
    return Categories(CategoryRecord(**row) for row in rows)


async def tree_revision(session: AsyncSession, shop: str) -> int:
    """Changes with every write to the shop's tree: the tree's ETag."""
    revision = await session.scalar(sa.select(_trees.revision).where(_trees.shop == shop))
    return int(revision or 0)


async def lock_tree(session: AsyncSession, shop: str) -> None:
    """Take the shop's tree lock and bump its revision (the first write makes the row)."""
    new_tree = dialect_insert(session, trees_table).values(shop=shop, revision=0)
    await session.execute(new_tree.on_conflict_do_nothing())
    await session.execute(
        sa.update(trees_table).where(_trees.shop == shop).values(revision=_trees.revision + 1)
    )


async def insert_category(session: AsyncSession, shop: str, record: CategoryRecord) -> None:
    await session.execute(sa.insert(categories_table).values(shop=shop, **asdict(record)))


async def update_category(session: AsyncSession, shop: str, record: CategoryRecord) -> None:
    """Write `record` over the stored category of its id."""
    values = {k: v for k, v in asdict(record).items() if k not in ("id", "created_at")}
    await session.execute(
        sa.update(categories_table)
        .where(_categories.shop == shop, _categories.id == record.id)
        .values(values)
    )


async def delete_categories(session: AsyncSession, shop: str, category_ids: list[str]) -> None:
    await session.execute(
        sa.delete(categories_table).where(
            _categories.shop == shop, _categories.id.in_(category_ids)
        )
    )


async def commit_unique(session: AsyncSession) -> bool:
    """Commit; False (rolled back) if a unique key clashed, should two writers ever race
    past the tree lock."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


# ----------------------------------------------------------------------------- projection


async def upsert_product(
    session: AsyncSession, product: ProjectedProduct, update: Sequence[str]
) -> bool:
    """Insert the row, or update the `update` columns if the event is newer than the row;
    False when we hold this version or a newer one."""
    stmt = upsert(
        session,
        products_table,
        asdict(product),
        keys=[_products.shop, _products.product_id],
        update=update,
        where=_products.version < excluded(session, products_table).version,
    )
    return rowcount(await session.execute(stmt)) > 0


async def linked_categories(session: AsyncSession, shop: str, product_id: str) -> set[str]:
    """The categories the product is linked to now."""
    linked = await session.scalars(
        sa.select(_links.category_id).where(_links.shop == shop, _links.product_id == product_id)
    )
    return set(linked)


async def unlink_product(session: AsyncSession, shop: str, product_id: str) -> None:
    await session.execute(
        sa.delete(links_table).where(_links.shop == shop, _links.product_id == product_id)
    )


async def link_product(
    session: AsyncSession, shop: str, product_id: str, category_ids: list[str]
) -> None:
    """Link the product to those of `category_ids` that are categories of this shop."""
    if not category_ids:
        return
    known = await session.scalars(
        sa.select(_categories.id).where(_categories.shop == shop, _categories.id.in_(category_ids))
    )
    rows = [dict(shop=shop, product_id=product_id, category_id=c) for c in known]
    if rows:
        await session.execute(sa.insert(links_table), rows)


async def count_linked(session: AsyncSession, shop: str, category_id: str) -> int:
    """Products (live, active or not) directly in a category."""
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(links_table)
        .where(_links.shop == shop, _links.category_id == category_id)
    )
    return int(count or 0)


async def unlink_categories(session: AsyncSession, shop: str, category_ids: list[str]) -> int:
    """Remove every product link to these categories; returns how many went."""
    if not category_ids:
        return 0
    result = await session.execute(
        sa.delete(links_table).where(_links.shop == shop, _links.category_id.in_(category_ids))
    )
    return rowcount(result)


_SORT_COLUMNS = {
    ProductSort.NAME: _products.name,
    ProductSort.PRICE: _products.price_amount,
    ProductSort.PRICE_DESC: _products.price_amount,
    ProductSort.NEWEST: _products.created_at,
}


async def products_page(
    session: AsyncSession,
    shop: str,
    category_ids: list[str],
    *,
    sort: ProductSort,
    limit: int,
    after: tuple[SortKey, str] | None,
) -> ProductsPage:
    """A page of active products in any of `category_ids`, each once, in `sort` order,
    after the (sort key, product id) the previous page ended at."""
    key = _SORT_COLUMNS[sort]
    in_categories = (
        sa.select(sa.literal(1))
        .where(
            _links.shop == _products.shop,
            _links.product_id == _products.product_id,
            _links.category_id.in_(category_ids),
        )
        .exists()
    )
    query = sa.select(
        _products.product_id,
        _products.name,
        _products.slug,
        _products.price_amount,
        _products.currency,
        _products.available,
        key.label("sort_key"),
    ).where(
        _products.shop == shop,
        _products.active.is_(True),
        _products.deleted.is_(False),
        in_categories,
    )
    if after is not None:
        value, after_id = after
        beyond = key < value if sort in DESCENDING else key > value
        query = query.where(sa.or_(beyond, sa.and_(key == value, _products.product_id > after_id)))
    order = key.desc() if sort in DESCENDING else key.asc()
    query = query.order_by(order, _products.product_id).limit(limit + 1)
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
