"""Categories' use cases: read the tree, change it, list its products, and keep the
products projection from catalog's events.

Each write is one unit of work: take the shop's tree lock, load the tree (`store`; a tree
is small, a limit per shop), ask the rules (`domain`) what changes, store it with its
events in the outbox, commit. Refusals come from the rules; none of this speaks HTTP.
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.categories import store
from shopfleet.categories.domain import products, rules
from shopfleet.categories.domain.products import ProductSort
from shopfleet.categories.domain.refusals import SlugTaken
from shopfleet.categories.domain.rules import Cascade, CategoryRecord, Limits
from shopfleet.categories.models import (
    CategoryCreate,
    CategoryDeletion,
    CategoryDetail,
    CategoryNode,
    CategoryPublic,
    CategoryRef,
    CategoryTree,
    CategoryUpdate,
    ProductsPage,
    new_id,
)
from shopfleet.kit.contracts.events import (
    CATEGORY_DELETED,
    CATEGORY_UPDATED,
    CategoryDeleted,
    CategoryUpdated,
    ProductDeleted,
    ProductUpdated,
)
from shopfleet.kit.db import utcnow
from shopfleet.kit.outbox import Outbox


def _public(record: CategoryRecord) -> CategoryPublic:
    return CategoryPublic.model_validate(asdict(record))


def _node(record: CategoryRecord, children: list[CategoryNode]) -> CategoryNode:
    return CategoryNode.model_validate({**asdict(record), "children": children})


# ----------------------------------------------------------------------------- reading


async def tree_revision(session: AsyncSession, shop: str) -> int:
    """Changes with every write to the shop's tree: the tree's ETag."""
    return await store.tree_revision(session, shop)


async def get_tree(session: AsyncSession, shop: str) -> CategoryTree:
    tree = await store.load_tree(session, shop)
    return CategoryTree(items=tree.nested(_node), count=len(tree))


async def get_category(session: AsyncSession, shop: str, category_id: str) -> CategoryDetail:
    tree = await store.load_tree(session, shop)
    record = rules.existing(tree, shop, category_id)
    path = [CategoryRef(id=n.id, slug=n.slug, name=n.name) for n in tree.path(category_id)]
    children = [_public(child) for child in tree.children(category_id)]
    return CategoryDetail.model_validate({**asdict(record), "path": path, "children": children})


async def list_products(
    session: AsyncSession,
    shop: str,
    category_id: str,
    *,
    sort: ProductSort = ProductSort.NAME,
    limit: int = 20,
    cursor: str | None = None,
) -> ProductsPage:
    """Active products in the category or any category below it, each once; an unknown
    category first, then a cursor we did not issue (`products.BadCursor`), is refused."""
    tree = await store.load_tree(session, shop)
    rules.existing(tree, shop, category_id)
    after = products.decode_cursor(cursor, sort) if cursor else None
    return await store.products_page(
        session, shop, tree.descendants(category_id), sort=sort, limit=limit, after=after
    )


# ----------------------------------------------------------------------------- writing


async def _emit_updated(session: AsyncSession, shop: str, record: CategoryRecord) -> None:
    updated = CategoryUpdated(
        category_id=record.id,
        parent_id=record.parent_id,
        slug=record.slug,
        name=record.name,
        position=record.position,
        version=record.version,
    )
    await Outbox.add(session, CATEGORY_UPDATED, updated, shop=shop)


async def _commit(session: AsyncSession, slug: str) -> None:
    if not await store.commit_unique(session):  # the unique slug, past the lock
        raise SlugTaken(slug)


async def create_category(
    session: AsyncSession, shop: str, data: CategoryCreate, limits: Limits
) -> CategoryPublic:
    await store.lock_tree(session, shop)
    record = rules.plan_create(
        await store.load_tree(session, shop),
        shop,
        new_id=new_id(),
        name=data.name,
        slug=data.slug,
        parent_id=data.parent_id,
        position=data.position,
        description=data.description,
        limits=limits,
        now=utcnow(),
    )
    await store.insert_category(session, shop, record)
    await _emit_updated(session, shop, record)
    await _commit(session, record.slug)
    return _public(record)


async def update_category(
    session: AsyncSession, shop: str, category_id: str, data: CategoryUpdate, limits: Limits
) -> CategoryPublic:
    await store.lock_tree(session, shop)
    tree = await store.load_tree(session, shop)
    record = rules.plan_update(tree, shop, category_id, data.edit(), limits=limits, now=utcnow())
    if record is None:
        await session.rollback()  # nothing to write: the revision stays
        return _public(tree.node(category_id))
    await store.update_category(session, shop, record)
    await _emit_updated(session, shop, record)
    await _commit(session, record.slug)
    return _public(record)


async def delete_category(
    session: AsyncSession, shop: str, category_id: str, cascade: Cascade | None
) -> CategoryDeletion:
    """Delete a category; one with children or products needs `cascade`."""
    await store.lock_tree(session, shop)
    tree = await store.load_tree(session, shop)
    rules.existing(tree, shop, category_id)
    linked = await store.count_linked(session, shop, category_id) if cascade is None else 0
    deletion = rules.plan_deletion(tree, shop, category_id, cascade, products=linked, now=utcnow())
    for child in deletion.reparented:
        await store.update_category(session, shop, child)
        await _emit_updated(session, shop, child)
    doomed = deletion.doomed_ids
    unlinked = await store.unlink_categories(session, shop, doomed)
    await store.delete_categories(session, shop, doomed)
    for record in deletion.doomed:
        deleted = CategoryDeleted(category_id=record.id, version=rules.deleted_version(record))
        await Outbox.add(session, CATEGORY_DELETED, deleted, shop=shop)
    await session.commit()
    return CategoryDeletion(
        deleted=doomed,
        reparented=[child.id for child in deletion.reparented],
        products_unlinked=unlinked,
    )


# ----------------------------------------------------------------------------- projection

# The columns a newer `product.deleted` changes: the rest of a tombstone is placeholders.
_TOMBSTONE_UPDATES = ("active", "version", "deleted", "projected_at")
_PRODUCT_UPDATES = tuple(
    field
    for field in products.ProjectedProduct.__dataclass_fields__
    if field not in ("shop", "product_id")
)


async def apply_product_updated(session: AsyncSession, shop: str, event: ProductUpdated) -> bool:
    """Apply `product.updated` if newer than what we hold; True if it changed anything.
    Raises `products.BadProductEvent` for an event the projection can never keep."""
    product = products.product_of(shop, event, now=utcnow())
    if not await store.upsert_product(session, product, _PRODUCT_UPDATES):
        return False  # we hold this version or a newer one
    wanted = products.linkable(event.category_ids)
    if await store.linked_categories(session, shop, event.product_id) == set(wanted):
        return True  # most updates are stock moves: the links stay as they are
    await store.unlink_product(session, shop, event.product_id)
    await store.link_product(session, shop, event.product_id, wanted)
    return True


async def apply_product_deleted(session: AsyncSession, shop: str, event: ProductDeleted) -> bool:
    """Apply `product.deleted` if newer: a tombstone at its version, and no more links."""
    tombstone = products.tombstone_of(shop, event, now=utcnow())
    if not await store.upsert_product(session, tombstone, _TOMBSTONE_UPDATES):
        return False
    await store.unlink_product(session, shop, event.product_id)
    return True
