"""Categories' domain logic: a shop's tree, its changes and their events.

Plain async functions taking a session; each write is one unit of work and commits it,
with its events in the outbox. A shop's tree writes are serialized on its
`category_trees` row (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE serializes anyway),
so two concurrent moves can never build a cycle between them. A tree is small (a limit
per shop), so a write loads it whole and asks `tree.Tree` whether the change is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shopfleet.categories import projection
from shopfleet.categories.models import (
    CATEGORY_COLUMNS,
    MAX_SLUG,
    Cascade,
    Category,
    CategoryCreate,
    CategoryDeletion,
    CategoryDetail,
    CategoryNode,
    CategoryPublic,
    CategoryRef,
    CategoryTree,
    CategoryTreeState,
    CategoryUpdate,
    ProductSort,
    ProductsPage,
    new_id,
    slugify,
)
from shopfleet.categories.settings import CategoriesSettings
from shopfleet.categories.tree import CycleError, DepthError, Node, Tree
from shopfleet.kit.contracts.events import (
    CATEGORY_DELETED,
    CATEGORY_UPDATED,
    CategoryDeleted,
    CategoryUpdated,
)
from shopfleet.kit.db import NamedRow, dialect_insert, utcnow
from shopfleet.kit.errors import Conflict, NotFound, Problem, field_problem
from shopfleet.kit.outbox import Outbox

CATEGORIES = Category.__table__  # type: ignore[attr-defined]
TREES = CategoryTreeState.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 8
    max_categories: int = 1000

    @classmethod
    def from_settings(cls, settings: CategoriesSettings) -> Limits:
        return cls(max_depth=settings.max_depth, max_categories=settings.max_categories)


# ----------------------------------------------------------------------------- problems


def _not_found(shop: str, category_id: str) -> NotFound:
    return NotFound(f"No category '{category_id}' in shop '{shop}'.")


def _unknown_parent(parent_id: str) -> Problem:
    return field_problem(
        422,
        "body.parent_id",
        f"no category '{parent_id}' in this shop; "
        "send the id of an existing category, or null for a root category",
    )


def _slug_taken(slug: str) -> Problem:
    return field_problem(
        409,
        "body.slug",
        f"'{slug}' is already the slug of another category in this shop; choose another",
        slug="slug-taken",
    )


def _cycle(exc: CycleError) -> Conflict:
    return Conflict(f"Cannot move the category: {exc}.", slug="category-cycle")


def _too_deep(exc: DepthError) -> Conflict:
    return Conflict(f"The tree would be too deep: {exc}.", slug="category-too-deep")


# ----------------------------------------------------------------------------- reading


async def _rows(session: AsyncSession, shop: str) -> list[NamedRow]:
    query = sa.select(*CATEGORY_COLUMNS).where(col(Category.shop) == shop)
    return list((await session.execute(query)).mappings().all())


async def load_tree(session: AsyncSession, shop: str) -> Tree:
    return Tree.from_rows(await _rows(session, shop))


async def tree_revision(session: AsyncSession, shop: str) -> int:
    """Changes with every write to the shop's tree: the tree's ETag."""
    revision = await session.scalar(sa.select(TREES.c.revision).where(TREES.c.shop == shop))
    return int(revision or 0)


def _public(node: Node) -> CategoryPublic:
    return CategoryPublic.model_validate(dict(node.data))


def _node(node: Node, children: list[CategoryNode]) -> CategoryNode:
    return CategoryNode.model_validate({**node.data, "children": children})


async def get_tree(session: AsyncSession, shop: str) -> CategoryTree:
    tree = await load_tree(session, shop)
    return CategoryTree(items=tree.nested(_node), count=len(tree))


async def get_category(session: AsyncSession, shop: str, category_id: str) -> CategoryDetail:
    tree = await load_tree(session, shop)
    if category_id not in tree:
        raise _not_found(shop, category_id)
    path = [CategoryRef(id=n.id, slug=n.data["slug"], name=n.name) for n in tree.path(category_id)]
    children = [_public(child) for child in tree.children(category_id)]
    return CategoryDetail.model_validate(
        {**tree.node(category_id).data, "path": path, "children": children}
    )


async def list_products(
    session: AsyncSession,
    shop: str,
    category_id: str,
    *,
    sort: ProductSort = ProductSort.NAME,
    limit: int = 20,
    cursor: str | None = None,
) -> ProductsPage:
    """Active products in the category or any category below it, each once."""
    tree = await load_tree(session, shop)
    if category_id not in tree:
        raise _not_found(shop, category_id)
    try:
        return await projection.list_products(
            session, shop, tree.descendants(category_id), sort=sort, limit=limit, cursor=cursor
        )
    except projection.BadCursor as exc:
        raise field_problem(
            400,
            "query.cursor",
            f"{exc}: pass the next_cursor of the previous page unchanged "
            "(with the same sort), or omit it to start at the first page",
            slug="bad-cursor",
        ) from None


# ----------------------------------------------------------------------------- writing


async def _begin_write(session: AsyncSession, shop: str) -> Tree:
    """Take the shop's tree lock, bump its revision, and load the tree."""
    new_tree = dialect_insert(session, TREES).values(shop=shop, revision=0)
    await session.execute(new_tree.on_conflict_do_nothing())
    await session.execute(
        sa.update(TREES).where(TREES.c.shop == shop).values(revision=TREES.c.revision + 1)
    )
    return await load_tree(session, shop)


async def _emit_updated(session: AsyncSession, shop: str, row: NamedRow) -> None:
    await Outbox.add(
        session,
        CATEGORY_UPDATED,
        CategoryUpdated(
            category_id=row["id"],
            parent_id=row["parent_id"],
            slug=row["slug"],
            name=row["name"],
            position=row["position"],
            version=row["version"],
        ),
        shop=shop,
    )


def _unique_slug(tree: Tree, wanted: str) -> str:
    taken = {node.data["slug"] for node in tree.nodes.values()}
    if wanted not in taken:
        return wanted
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = wanted[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _next_position(tree: Tree, parent_id: str | None) -> int:
    return max((sibling.position for sibling in tree.children(parent_id)), default=-1) + 1


def _slug_owner(tree: Tree, slug: str) -> str | None:
    return next((n.id for n in tree.nodes.values() if n.data["slug"] == slug), None)


async def _commit(session: AsyncSession, slug: str) -> None:
    try:
        await session.commit()
    except IntegrityError:  # the unique slug, should two writers ever race past the lock
        await session.rollback()
        raise _slug_taken(slug) from None


async def create_category(
    session: AsyncSession, shop: str, data: CategoryCreate, limits: Limits
) -> CategoryPublic:
    tree = await _begin_write(session, shop)
    if len(tree) >= limits.max_categories:
        raise Conflict(
            f"Shop '{shop}' has {len(tree)} categories, the most it may have "
            f"({limits.max_categories}); delete some first.",
            slug="category-limit",
        )
    if data.parent_id is not None and data.parent_id not in tree:
        raise _unknown_parent(data.parent_id)
    try:
        tree.check_add(data.parent_id, max_depth=limits.max_depth)
    except DepthError as exc:
        raise _too_deep(exc) from None
    if data.slug is not None:
        if _slug_owner(tree, data.slug) is not None:
            raise _slug_taken(data.slug)
        slug = data.slug
    else:
        slug = _unique_slug(tree, slugify(data.name))
    position = _next_position(tree, data.parent_id) if data.position is None else data.position
    now = utcnow()
    row = dict(
        id=new_id(),
        shop=shop,
        parent_id=data.parent_id,
        slug=slug,
        name=data.name,
        description=data.description,
        position=position,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await session.execute(sa.insert(CATEGORIES).values(row))
    await _emit_updated(session, shop, row)
    await _commit(session, slug)
    return CategoryPublic.model_validate(row)


async def update_category(
    session: AsyncSession, shop: str, category_id: str, data: CategoryUpdate, limits: Limits
) -> CategoryPublic:
    tree = await _begin_write(session, shop)
    if category_id not in tree:
        raise _not_found(shop, category_id)
    current = dict(tree.node(category_id).data)
    wanted = data.model_dump(exclude_unset=True)
    changes = {field: value for field, value in wanted.items() if current[field] != value}
    if "parent_id" in changes:
        parent_id = changes["parent_id"]
        if parent_id is not None and parent_id not in tree:
            raise _unknown_parent(parent_id)
        try:
            tree.check_move(category_id, parent_id, max_depth=limits.max_depth)
        except CycleError as exc:
            raise _cycle(exc) from None
        except DepthError as exc:
            raise _too_deep(exc) from None
        if "position" not in wanted:  # a moved category goes after its new siblings
            changes["position"] = _next_position(tree, parent_id)
    if "slug" in changes and _slug_owner(tree, changes["slug"]) is not None:
        raise _slug_taken(changes["slug"])
    if not changes:
        await session.rollback()  # nothing to write: the revision stays
        return CategoryPublic.model_validate(current)
    changes |= dict(version=current["version"] + 1, updated_at=utcnow())
    await session.execute(
        sa.update(CATEGORIES)
        .where(CATEGORIES.c.shop == shop, CATEGORIES.c.id == category_id)
        .values(changes)
    )
    row = current | changes
    await _emit_updated(session, shop, row)
    await _commit(session, row["slug"])
    return CategoryPublic.model_validate(row)


async def delete_category(
    session: AsyncSession, shop: str, category_id: str, cascade: Cascade | None
) -> CategoryDeletion:
    """Delete a category; one with children or products needs `cascade` (409 otherwise)."""
    tree = await _begin_write(session, shop)
    if category_id not in tree:
        raise _not_found(shop, category_id)
    node = tree.node(category_id)
    children = tree.children(category_id)
    if cascade is None:
        products = await projection.count_linked(session, shop, category_id)
        if children or products:
            raise Conflict(
                f"Category '{node.data['slug']}' has {_count(len(children), 'child category')} "
                f"and {_count(products, 'product')}. Delete it with ?cascade=reparent (its "
                "children move to its parent; its products lose this category) or "
                "?cascade=delete (its whole subtree is deleted; products lose those categories).",
                slug="category-not-empty",
                children=len(children),
                products=products,
                cascade=[c.value for c in Cascade],
            )
    now = utcnow()
    reparented: list[str] = []
    if cascade is Cascade.DELETE:
        doomed = tree.deletion_order(category_id)
    else:
        doomed = [category_id]
        for child in children:
            row = dict(child.data) | dict(
                parent_id=node.parent_id, version=child.data["version"] + 1, updated_at=now
            )
            await session.execute(
                sa.update(CATEGORIES)
                .where(CATEGORIES.c.shop == shop, CATEGORIES.c.id == child.id)
                .values(parent_id=row["parent_id"], version=row["version"], updated_at=now)
            )
            await _emit_updated(session, shop, row)
            reparented.append(child.id)
    unlinked = await projection.unlink(session, shop, doomed)
    await session.execute(
        sa.delete(CATEGORIES).where(CATEGORIES.c.shop == shop, CATEGORIES.c.id.in_(doomed))
    )
    for doomed_id in doomed:
        version = tree.node(doomed_id).data["version"] + 1
        await Outbox.add(
            session,
            CATEGORY_DELETED,
            CategoryDeleted(category_id=doomed_id, version=version),
            shop=shop,
        )
    await session.commit()
    return CategoryDeletion(deleted=doomed, reparented=reparented, products_unlinked=unlinked)


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {plural}"
