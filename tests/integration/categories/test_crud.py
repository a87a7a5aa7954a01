"""Admins build a shop's category tree; everyone reads it, nested and in order."""

from __future__ import annotations

from typing import Any

from shopfleet.kit.contracts.events import CATEGORY_UPDATED


async def test_create_read_update_a_category(categories: Any) -> None:
    answer = await categories.http.post(
        categories.api("/categories"),
        json={"name": "Running Shoes", "description": "For the road.\nAnd trails."},
        headers=categories.admin,
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert answer.headers["location"] == categories.api(f"/categories/{created['id']}")
    assert created["slug"] == "running-shoes"
    assert created["parent_id"] is None and created["position"] == 0 and created["version"] == 1
    assert created["description"] == "For the road.\nAnd trails."

    answer = await categories.http.get(answer.headers["location"])
    assert answer.status_code == 200
    detail = answer.json()
    assert detail["name"] == "Running Shoes"
    assert detail["path"] == [
        {"id": created["id"], "slug": "running-shoes", "name": "Running Shoes"}
    ]
    assert detail["children"] == []

    answer = await categories.patch(created["id"], name="Trail Shoes", description=None)
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert updated["name"] == "Trail Shoes" and updated["description"] is None
    assert updated["slug"] == "running-shoes"  # a slug changes only when asked
    assert updated["version"] == 2
    assert updated["updated_at"] > created["updated_at"]
    assert updated["created_at"] == created["created_at"]


async def test_slugs_are_made_from_names_and_unique_per_shop(categories: Any) -> None:
    first = await categories.create("Crème Brûlée & Co")
    assert first["slug"] == "creme-brulee-co"
    second = await categories.create("Crème brûlée & co!")  # same slug from another name
    assert second["slug"] == "creme-brulee-co-2"
    assert (await categories.create("!!!"))["slug"] == "category"

    taken = await categories.http.post(
        categories.api("/categories"),
        json={"name": "Anything", "slug": "creme-brulee-co"},
        headers=categories.admin,
    )
    body = categories.assert_problem(taken, 409, "body.slug")
    assert body["type"].endswith("/slug-taken")
    renamed = await categories.patch(second["id"], slug="creme-brulee-co")
    categories.assert_problem(renamed, 409, "body.slug")

    # Another shop has its own slugs.
    other = await categories.create("Crème Brûlée & Co", shop=categories.OTHER_SHOP)
    assert other["slug"] == "creme-brulee-co"


async def test_the_tree_is_nested_and_ordered_by_position_then_name(categories: Any) -> None:
    shoes = await categories.create("Shoes")  # position 0
    hats = await categories.create("Hats")  # position 1: appended after the last root
    bags = await categories.create("Bags", position=1)  # ties with Hats: name decides
    boots = await categories.create("Boots", parent_id=shoes["id"], position=5)
    sandals = await categories.create("Sandals", parent_id=shoes["id"], position=2)
    hiking = await categories.create("Hiking", parent_id=boots["id"])
    assert hats["position"] == 1 and hiking["position"] == 0

    def shape(nodes: list[dict[str, Any]]) -> list[Any]:
        return [(n["name"], shape(n["children"])) for n in nodes]

    assert shape(await categories.tree()) == [
        ("Shoes", [("Sandals", []), ("Boots", [("Hiking", [])])]),
        ("Bags", []),
        ("Hats", []),
    ]
    answer = await categories.http.get(categories.api("/categories"))
    assert answer.json()["count"] == 6

    detail = await categories.get(hiking["id"])
    assert [p["name"] for p in detail["path"]] == ["Shoes", "Boots", "Hiking"]
    assert [c["name"] for c in (await categories.get(shoes["id"]))["children"]] == [
        "Sandals",
        "Boots",
    ]

    # Reordering: Sandals after Boots; Bags first among roots.
    assert (await categories.patch(sandals["id"], position=9)).status_code == 200
    assert (await categories.patch(bags["id"], position=0)).status_code == 200
    assert shape(await categories.tree()) == [
        ("Bags", []),
        ("Shoes", [("Boots", [("Hiking", [])]), ("Sandals", [])]),
        ("Hats", []),
    ]


async def test_moves_change_parents_and_paths(categories: Any) -> None:
    shoes, boots = await categories.chain("Shoes", "Boots")
    sale = await categories.create("Sale")
    moved = await categories.patch(boots["id"], parent_id=sale["id"])
    assert moved.status_code == 200 and moved.json()["parent_id"] == sale["id"]
    assert [p["name"] for p in (await categories.get(boots["id"]))["path"]] == ["Sale", "Boots"]

    to_root = await categories.patch(boots["id"], parent_id=None)
    assert to_root.json()["parent_id"] is None and to_root.json()["version"] == 3
    assert [n["name"] for n in await categories.tree()] == ["Shoes", "Sale", "Boots"]
    assert shoes["id"]


async def test_every_change_publishes_category_updated_with_full_state(categories: Any) -> None:
    shoes = await categories.create("Shoes")
    boots = await categories.create("Boots", parent_id=shoes["id"], slug="boots-x", position=3)
    await categories.patch(boots["id"], name="Winter Boots", parent_id=None)

    events = await categories.pubsub.wait_for(CATEGORY_UPDATED, 3)
    assert [e.shop for e in events] == ["acme"] * 3
    assert [e.source for e in events] == ["categories"] * 3
    assert [e.data for e in events] == [
        {
            "category_id": shoes["id"],
            "parent_id": None,
            "slug": "shoes",
            "name": "Shoes",
            "position": 0,
            "version": 1,
        },
        {
            "category_id": boots["id"],
            "parent_id": shoes["id"],
            "slug": "boots-x",
            "name": "Boots",
            "position": 3,
            "version": 1,
        },
        {
            "category_id": boots["id"],
            "parent_id": None,
            "slug": "boots-x",
            "name": "Winter Boots",
            "position": 1,
            "version": 2,
        },  # after its new siblings
    ]


async def test_the_tree_has_an_etag_and_answers_304_while_unchanged(categories: Any) -> None:
    url = categories.api("/categories")
    empty = await categories.http.get(url)
    assert empty.status_code == 200 and empty.json() == {"items": [], "count": 0}
    hats = await categories.create("Hats")

    first = await categories.http.get(url)
    etag = first.headers["etag"]
    assert etag != empty.headers["etag"]
    again = await categories.http.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content
    listed = await categories.http.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304

    detail_url = categories.api(f"/categories/{hats['id']}")
    detail = await categories.http.get(detail_url, headers={"If-None-Match": etag})
    assert detail.status_code == 304

    await categories.patch(hats["id"], name="Caps")
    changed = await categories.http.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["items"][0]["name"] == "Caps"

    # A PATCH that changes nothing keeps the version, publishes nothing, and keeps the ETag.
    for same in ({}, {"name": "Caps"}, {"slug": "hats", "parent_id": None, "position": 0}):
        answer = await categories.patch(hats["id"], **same)
        assert answer.status_code == 200 and answer.json()["version"] == 2
    still = await categories.http.get(url, headers={"If-None-Match": changed.headers["etag"]})
    assert still.status_code == 304
    await categories.pubsub.wait_for(CATEGORY_UPDATED, 2)
    assert len(categories.pubsub.topics(CATEGORY_UPDATED)) == 2
