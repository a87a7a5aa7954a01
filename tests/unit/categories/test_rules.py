"""The tree's decisions on plain records: what a create, an edit or a delete changes, and
what it refuses (each refusal of the kind the kit answers with the right status)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shopfleet.categories.domain.refusals import (
    CategoryCycle,
    CategoryLimit,
    CategoryNotEmpty,
    CategoryNotFound,
    CategoryTooDeep,
    SlugTaken,
    UnknownParent,
)
from shopfleet.categories.domain.rules import (
    MAX_SLUG,
    Cascade,
    Categories,
    CategoryEdit,
    CategoryRecord,
    Limits,
    deleted_version,
    plan_create,
    plan_deletion,
    plan_update,
    unique_slug,
)
from shopfleet.kit.refusals import Refusal, status_of

THEN = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIMITS = Limits(max_depth=3, max_categories=10)


def record(cid: str, parent: str | None, *, position: int = 0, version: int = 1) -> CategoryRecord:
    return CategoryRecord(cid, parent, cid, cid.title(), None, position, version, THEN, THEN)


# shoes > boots > hiking ; shoes > sandals ; hats
SHOP = Categories(
    [
        record("shoes", None),
        record("boots", "shoes", position=0),
        record("hiking", "boots"),
        record("sandals", "shoes", position=4),
        record("hats", None, position=1),
    ]
)


def create(
    tree: Categories = SHOP,
    *,
    name: str = "New",
    slug: str | None = None,
    parent_id: str | None = None,
    position: int | None = None,
) -> CategoryRecord:
    return plan_create(
        tree,
        "s1",
        new_id="n1",
        name=name,
        slug=slug,
        parent_id=parent_id,
        position=position,
        description=None,
        limits=LIMITS,
        now=NOW,
    )


def update(edit: CategoryEdit, cid: str = "boots") -> CategoryRecord | None:
    return plan_update(SHOP, "s1", cid, edit, limits=LIMITS, now=NOW)


def test_a_new_category_goes_after_its_siblings_with_a_slug_from_its_name() -> None:
    made = create(name="Rain Boots", parent_id="shoes")
    assert (made.id, made.slug, made.parent_id) == ("n1", "rain-boots", "shoes")
    assert made.position == 5 and made.version == 1
    assert made.created_at == made.updated_at == NOW
    assert create(position=0).position == 0


def test_a_made_slug_steps_past_the_taken_ones() -> None:
    assert create(name="Shoes").slug == "shoes-2"
    taken = Categories([record("shoes", None), record("shoes-2", None)])
    assert unique_slug(taken, "shoes") == "shoes-3"
    long = "a" * MAX_SLUG
    crowded = Categories([record(long, None)])
    assert unique_slug(crowded, long) == "a" * (MAX_SLUG - 2) + "-2"


@pytest.mark.parametrize(
    ("slug", "parent_id", "refusal", "status"),
    [
        ("hats", None, SlugTaken, 409),
        (None, "nowhere", UnknownParent, 422),
        (None, "hiking", CategoryTooDeep, 409),
    ],
)
def test_a_create_is_refused(
    slug: str | None, parent_id: str | None, refusal: type[Refusal], status: int
) -> None:
    with pytest.raises(refusal) as refused:
        create(slug=slug, parent_id=parent_id)
    assert status_of(refused.value) == status


def test_a_full_shop_takes_no_more_categories() -> None:
    full = Categories([record(f"c{i}", None) for i in range(LIMITS.max_categories)])
    with pytest.raises(CategoryLimit, match="delete some first"):
        create(full)


def test_an_edit_changes_only_what_it_sends_and_bumps_the_version() -> None:
    renamed = update({"name": "Winter Boots"})
    assert renamed is not None
    assert (renamed.name, renamed.slug, renamed.parent_id) == ("Winter Boots", "boots", "shoes")
    assert (renamed.version, renamed.updated_at, renamed.created_at) == (2, NOW, THEN)


def test_an_edit_that_changes_nothing_writes_nothing() -> None:
    assert update({"name": "Boots", "slug": "boots", "parent_id": "shoes"}) is None
    assert update({}) is None


def test_a_moved_category_goes_after_its_new_siblings_unless_placed() -> None:
    moved = update({"parent_id": None})
    assert moved is not None and moved.parent_id is None and moved.position == 2
    placed = update({"parent_id": None, "position": 0})
    assert placed is not None and placed.position == 0


@pytest.mark.parametrize(
    ("edit", "refusal"),
    [
        ({"parent_id": "hiking"}, CategoryCycle),
        ({"parent_id": "boots"}, CategoryCycle),
        ({"slug": "hats"}, SlugTaken),
        ({"parent_id": "gone"}, UnknownParent),
    ],
)
def test_an_edit_is_refused(edit: CategoryEdit, refusal: type[Refusal]) -> None:
    with pytest.raises(refusal):
        update(edit)


def test_a_move_that_would_make_the_tree_too_deep_is_refused() -> None:
    with pytest.raises(CategoryTooDeep, match="level 4"):
        update({"parent_id": "sandals"})  # boots > hiking below shoes > sandals


def test_an_unknown_category_is_not_found() -> None:
    with pytest.raises(CategoryNotFound, match="'nope' in shop 's1'"):
        update({"name": "x"}, cid="nope")
    with pytest.raises(CategoryNotFound):
        plan_deletion(SHOP, "s1", "nope", Cascade.DELETE, products=0, now=NOW)


def test_a_category_with_children_or_products_needs_a_cascade() -> None:
    with pytest.raises(CategoryNotEmpty) as refused:
        plan_deletion(SHOP, "s1", "shoes", None, products=1, now=NOW)
    assert refused.value.extra == {
        "children": 2,
        "products": 1,
        "cascade": ["reparent", "delete"],
    }
    assert "2 child categories and 1 product" in refused.value.detail
    with pytest.raises(CategoryNotEmpty, match="0 child categories and 3 products"):
        plan_deletion(SHOP, "s1", "hats", None, products=3, now=NOW)
    empty = plan_deletion(SHOP, "s1", "hats", None, products=0, now=NOW)
    assert empty.doomed_ids == ["hats"] and empty.reparented == []


def test_a_cascading_delete_takes_the_subtree_children_first() -> None:
    deletion = plan_deletion(SHOP, "s1", "shoes", Cascade.DELETE, products=0, now=NOW)
    assert deletion.doomed_ids == ["sandals", "hiking", "boots", "shoes"]
    assert deletion.reparented == []
    assert [deleted_version(r) for r in deletion.doomed] == [2, 2, 2, 2]


def test_reparenting_moves_the_children_up_with_new_versions() -> None:
    deletion = plan_deletion(SHOP, "s1", "boots", Cascade.REPARENT, products=0, now=NOW)
    assert deletion.doomed_ids == ["boots"]
    [hiking] = deletion.reparented
    assert (hiking.id, hiking.parent_id, hiking.version, hiking.updated_at) == (
        "hiking",
        "shoes",
        2,
        NOW,
    )
