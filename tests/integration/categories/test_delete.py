"""Deleting: a category with children or products needs ?cascade=; events say what went."""

from __future__ import annotations

from typing import Any

from shopfleet.kit.contracts.events import CATEGORY_DELETED, CATEGORY_UPDATED


async def test_an_empty_category_is_deleted_and_announced(categories: Any) -> None:
    hats = await categories.create("Hats")
    answer = await categories.delete(hats["id"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"deleted": [hats["id"]], "reparented": [], "products_unlinked": 0}
    assert await categories.tree() == []
    categories.assert_problem(
        await categories.http.get(categories.api(f"/categories/{hats['id']}")), 404
    )
    (event,) = await categories.pubsub.wait_for(CATEGORY_DELETED)
    assert event.data == {"category_id": hats["id"], "version": 2} and event.shop == "acme"
    # Its slug is free again.
    assert (await categories.create("Hats"))["slug"] == "hats"


async def test_a_category_with_children_or_products_needs_a_cascade(categories: Any) -> None:
    shoes, boots = await categories.chain("Shoes", "Boots")
    await categories.create("Sandals", parent_id=shoes["id"])
    await categories.add_product(categories=[shoes["id"]])

    answer = await categories.delete(shoes["id"])
    body = categories.assert_problem(answer, 409)
    assert body["type"].endswith("/category-not-empty")
    assert "2 child categories and 1 product" in body["detail"]
    assert "?cascade=reparent" in body["detail"] and "?cascade=delete" in body["detail"]
    assert body["children"] == 2 and body["products"] == 1
    assert body["cascade"] == ["reparent", "delete"]

    # Products alone also block, and an inactive product counts: it is still in the category.
    await categories.add_product(categories=[boots["id"]], active=False)
    body = categories.assert_problem(await categories.delete(boots["id"]), 409)
    assert "0 child categories and 1 product" in body["detail"]

    # An unknown cascade is refused, naming the parameter and the values there are.
    body = categories.assert_problem(
        await categories.delete(shoes["id"], "everything"), 422, "query.cascade"
    )
    assert "reparent" in body["detail"]

    assert len(await categories.tree()) == 1  # nothing changed
    assert categories.pubsub.topics(CATEGORY_DELETED) == []


async def test_cascade_reparent_moves_children_up_and_unlinks_products(categories: Any) -> None:
    root, shoes, boots = await categories.chain("Root", "Shoes", "Boots")
    sandals = await categories.create("Sandals", parent_id=shoes["id"])
    in_shoes = await categories.add_product(categories=[shoes["id"], root["id"]])
    in_boots = await categories.add_product(categories=[boots["id"]])

    answer = await categories.delete(shoes["id"], cascade="reparent")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "deleted": [shoes["id"]],
        "reparented": [boots["id"], sandals["id"]],
        "products_unlinked": 1,
    }
    (tree_root,) = await categories.tree()
    assert [c["name"] for c in tree_root["children"]] == ["Boots", "Sandals"]
    assert {c["parent_id"] for c in tree_root["children"]} == {root["id"]}
    assert {c["version"] for c in tree_root["children"]} == {2}

    # The product stays in its other category; nothing lists the deleted one.
    listed = await categories.all_products(root["id"])
    assert sorted(p["id"] for p in listed) == sorted([in_shoes, in_boots])
    assert [p["id"] for p in await categories.all_products(boots["id"])] == [in_boots]

    deleted = await categories.pubsub.wait_for(CATEGORY_DELETED)
    assert [e.data for e in deleted] == [{"category_id": shoes["id"], "version": 2}]
    updated = await categories.pubsub.wait_for(CATEGORY_UPDATED, 6)
    moved = [e.data for e in updated if e.data["version"] == 2]
    assert sorted((m["category_id"], m["parent_id"]) for m in moved) == sorted(
        [(boots["id"], root["id"]), (sandals["id"], root["id"])]
    )

    # Reparenting the children of a root makes them roots.
    answer = await categories.delete(root["id"], cascade="reparent")
    assert answer.status_code == 200
    assert [(n["name"], n["parent_id"]) for n in await categories.tree()] == [
        ("Boots", None),
        ("Sandals", None),
    ]


async def test_cascade_delete_removes_the_whole_subtree(categories: Any) -> None:
    keep = await categories.create("Keep")
    shoes, boots, hiking = await categories.chain("Shoes", "Boots", "Hiking")
    sandals = await categories.create("Sandals", parent_id=shoes["id"])
    both = await categories.add_product(categories=[hiking["id"], keep["id"]])
    await categories.add_product(categories=[sandals["id"]])
    await categories.patch(boots["id"], name="Big Boots")  # version 2 → deleted at 3

    answer = await categories.delete(shoes["id"], cascade="delete")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["reparented"] == [] and result["products_unlinked"] == 2
    doomed = [shoes["id"], boots["id"], hiking["id"], sandals["id"]]
    assert sorted(result["deleted"]) == sorted(doomed)
    # Children are listed (and deleted) before their parents.
    order = result["deleted"]
    assert order.index(hiking["id"]) < order.index(boots["id"]) < order.index(shoes["id"])

    assert [n["name"] for n in await categories.tree()] == ["Keep"]
    assert [p["id"] for p in await categories.all_products(keep["id"])] == [both]

    events = await categories.pubsub.wait_for(CATEGORY_DELETED, 4)
    versions = {e.data["category_id"]: e.data["version"] for e in events}
    assert versions == {shoes["id"]: 2, boots["id"]: 3, hiking["id"]: 2, sandals["id"]: 2}
    assert len(events) == 4
