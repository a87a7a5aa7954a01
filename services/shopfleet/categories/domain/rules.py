"""The rules of a shop's category tree: slugs, limits, where a category may go, and what
a create, an edit or a delete changes. Pure: each decision reads the tree as loaded and
returns the records to store, or raises a refusal."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from shopfleet.categories.domain.refusals import (
    CategoryCycle,
    CategoryLimit,
    CategoryNotEmpty,
    CategoryNotFound,
    CategoryTooDeep,
    SlugTaken,
    UnknownParent,
)
from shopfleet.categories.domain.tree import CycleError, DepthError, Tree

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
MAX_SLUG = 100


@dataclass(frozen=True, slots=True)
class CategoryRecord:
    """A category as stored."""

    id: str
    parent_id: str | None
    slug: str
    name: str
    description: str | None
    position: int
    version: int
    created_at: datetime
    updated_at: datetime


Categories = Tree[CategoryRecord]


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 8
    max_categories: int = 1000


class Cascade(StrEnum):
    REPARENT = "reparent"  # children move to the deleted category's parent
    DELETE = "delete"  # the whole subtree goes


class CategoryEdit(TypedDict, total=False):
    """The fields an edit sent (only those change); `parent_id` None makes a root."""

    name: str
    slug: str
    parent_id: str | None
    position: int
    description: str | None


# ----------------------------------------------------------------------------- slugs


def slugify(text: str, *, max_length: int = MAX_SLUG) -> str:
    """A URL slug from a name: 'Crème Brûlée & Co' → 'creme-brulee-co' ('category' if empty)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:max_length].rstrip("-")
    return slug or "category"


def slug_owner(tree: Categories, slug: str) -> str | None:
    return next((n.id for n in tree.nodes.values() if n.slug == slug), None)


def unique_slug(tree: Categories, wanted: str) -> str:
    """`wanted`, or the first of `wanted-2`, `wanted-3`, … that no category has."""
    taken = {node.slug for node in tree.nodes.values()}
    if wanted not in taken:
        return wanted
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = wanted[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def next_position(tree: Categories, parent_id: str | None) -> int:
    """After the last of the siblings under `parent_id`."""
    return max((sibling.position for sibling in tree.children(parent_id)), default=-1) + 1


# ----------------------------------------------------------------------------- decisions


def existing(tree: Categories, shop: str, category_id: str) -> CategoryRecord:
    if category_id not in tree:
        raise CategoryNotFound(shop, category_id)
    return tree.node(category_id)


def _too_deep(exc: DepthError) -> CategoryTooDeep:
    return CategoryTooDeep(f"The tree would be too deep: {exc}.")


def _check_parent(tree: Categories, parent_id: str | None) -> None:
    if parent_id is not None and parent_id not in tree:
        raise UnknownParent(parent_id)


def plan_create(
    tree: Categories,
    shop: str,
    *,
    new_id: str,
    name: str,
    slug: str | None,
    parent_id: str | None,
    position: int | None,
    description: str | None,
    limits: Limits,
    now: datetime,
) -> CategoryRecord:
    """The category to insert; without a slug, one made from the name that is free."""
    if len(tree) >= limits.max_categories:
        raise CategoryLimit(
            f"Shop '{shop}' has {len(tree)} categories, the most it may have "
            f"({limits.max_categories}); delete some first."
        )
    _check_parent(tree, parent_id)
    try:
        tree.check_add(parent_id, max_depth=limits.max_depth)
    except DepthError as exc:
        raise _too_deep(exc) from None
    if slug is None:
        slug = unique_slug(tree, slugify(name))
    elif slug_owner(tree, slug) is not None:
        raise SlugTaken(slug)
    return CategoryRecord(
        id=new_id,
        parent_id=parent_id,
        slug=slug,
        name=name,
        description=description,
        position=next_position(tree, parent_id) if position is None else position,
        version=1,
        created_at=now,
        updated_at=now,
    )


def plan_update(
    tree: Categories,
    shop: str,
    category_id: str,
    edit: CategoryEdit,
    *,
    limits: Limits,
    now: datetime,
) -> CategoryRecord | None:
    """The category after `edit` (its version bumped), or None when nothing would change.
    A moved category goes after its new siblings unless the edit gives a position."""
    current = existing(tree, shop, category_id)
    parent_id = edit.get("parent_id", current.parent_id)
    position = edit.get("position", current.position)
    if parent_id != current.parent_id:
        _check_parent(tree, parent_id)
        try:
            tree.check_move(category_id, parent_id, max_depth=limits.max_depth)
        except CycleError as exc:
            raise CategoryCycle(f"Cannot move the category: {exc}.") from None
        except DepthError as exc:
            raise _too_deep(exc) from None
        if "position" not in edit:
            position = next_position(tree, parent_id)
    slug = edit.get("slug", current.slug)
    if slug != current.slug and slug_owner(tree, slug) is not None:
        raise SlugTaken(slug)
    edited = replace(
        current,
        name=edit.get("name", current.name),
        slug=slug,
        parent_id=parent_id,
        position=position,
        description=edit.get("description", current.description),
    )
    if edited == current:
        return None
    return replace(edited, version=current.version + 1, updated_at=now)


@dataclass(frozen=True, slots=True)
class Deletion:
    doomed: list[CategoryRecord]  # as they were, children before their parents
    reparented: list[CategoryRecord]  # the children moved up, as they are now

    @property
    def doomed_ids(self) -> list[str]:
        return [record.id for record in self.doomed]


def plan_deletion(
    tree: Categories,
    shop: str,
    category_id: str,
    cascade: Cascade | None,
    *,
    products: int,
    now: datetime,
) -> Deletion:
    """What deleting a category takes; one with children or `products` needs a `cascade`."""
    node = existing(tree, shop, category_id)
    children = tree.children(category_id)
    if cascade is None and (children or products):
        raise CategoryNotEmpty(
            f"Category '{node.slug}' has {_count(len(children), 'child category')} "
            f"and {_count(products, 'product')}. Delete it with ?cascade=reparent (its "
            "children move to its parent; its products lose this category) or "
            "?cascade=delete (its whole subtree is deleted; products lose those categories).",
            children=len(children),
            products=products,
            cascade=[c.value for c in Cascade],
        )
    if cascade is Cascade.DELETE:
        return Deletion([tree.node(i) for i in tree.deletion_order(category_id)], [])
    moved = [
        replace(child, parent_id=node.parent_id, version=child.version + 1, updated_at=now)
        for child in children
    ]
    return Deletion([node], moved)


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {plural}"


def deleted_version(record: CategoryRecord) -> int:
    """The version `category.deleted` carries: one past the last update's."""
    return record.version + 1
