"""No cycles, no tree deeper or larger than the limits; unknown parents name the field."""

from __future__ import annotations

import asyncio
from typing import Any

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_no_category_moves_under_itself_or_its_descendants(categories: Any) -> None:
    hats = await categories.create("Hats")
    answer = await categories.patch(hats["id"], parent_id=hats["id"])
    body = categories.assert_problem(answer, 409)
    assert body["type"].endswith("/category-cycle")
    assert "own parent" in body["detail"]

    a, b, c, d, e = await categories.chain("A", "B", "C", "D", "E")
    for below in (b, c, e):  # a direct child, and deeper descendants
        answer = await categories.patch(a["id"], parent_id=below["id"])
        body = categories.assert_problem(answer, 409)
        assert body["type"].endswith("/category-cycle")
        assert "descendant" in body["detail"]
    answer = await categories.patch(c["id"], parent_id=e["id"])
    categories.assert_problem(answer, 409)

    # Nothing changed; a legal move in the same subtree still works.
    assert (await categories.get(a["id"]))["version"] == 1
    assert (await categories.patch(e["id"], parent_id=b["id"])).status_code == 200
    assert [p["name"] for p in (await categories.get(e["id"]))["path"]] == ["A", "B", "E"]
    assert d

    # X under Y, then Y under X: the second move is refused.
    x = await categories.create("X")
    y = await categories.create("Y")
    assert (await categories.patch(x["id"], parent_id=y["id"])).status_code == 200
    categories.assert_problem(await categories.patch(y["id"], parent_id=x["id"]), 409)


async def test_unknown_parents_are_422_naming_the_field(categories: Any) -> None:
    hats = await categories.create("Hats")
    created = await categories.http.post(
        categories.api("/categories"),
        json={"name": "Caps", "parent_id": UNKNOWN},
        headers=categories.admin,
    )
    body = categories.assert_problem(created, 422, "body.parent_id")
    assert UNKNOWN in body["detail"]
    categories.assert_problem(
        await categories.patch(hats["id"], parent_id=UNKNOWN), 422, "body.parent_id"
    )

    # Another shop's category is unknown here too.
    theirs = await categories.create("Theirs", shop=categories.OTHER_SHOP)
    categories.assert_problem(
        await categories.patch(hats["id"], parent_id=theirs["id"]), 422, "body.parent_id"
    )


async def test_depth_is_limited(start_categories: Any) -> None:
    cats = await start_categories(max_depth=3)
    http = cats.http
    a, b, c = await cats.chain("A", "B", "C")
    too_deep = await http.post(
        cats.api("/categories"), json={"name": "D", "parent_id": c["id"]}, headers=cats.admin
    )
    body = cats.assert_problem(too_deep, 409)
    assert body["type"].endswith("/category-too-deep") and "3 levels" in body["detail"]

    # Moving a two-level subtree (B > C) under another two-level branch would make 4 levels.
    x, y = await cats.chain("X", "Y")
    cats.assert_problem(await cats.patch(b["id"], parent_id=y["id"]), 409)
    assert (await cats.patch(b["id"], parent_id=x["id"])).status_code == 200  # 3 levels: fine
    assert a


async def test_the_number_of_categories_per_shop_is_limited(start_categories: Any) -> None:
    cats = await start_categories(max_categories=3)
    http = cats.http
    first = await cats.create("One")
    await cats.create("Two")
    await cats.create("Three")
    answer = await http.post(cats.api("/categories"), json={"name": "Four"}, headers=cats.admin)
    body = cats.assert_problem(answer, 409)
    assert body["type"].endswith("/category-limit") and "(3)" in body["detail"]
    await cats.create("Elsewhere", shop=cats.OTHER_SHOP)  # the limit is per shop

    assert (await cats.delete(first["id"])).status_code == 200
    await cats.create("Four")


async def test_concurrent_opposite_moves_never_make_a_cycle(categories: Any) -> None:
    x = await categories.create("X")
    y = await categories.create("Y")
    answers = await asyncio.gather(
        categories.patch(x["id"], parent_id=y["id"]),
        categories.patch(y["id"], parent_id=x["id"]),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    roots = await categories.tree()
    assert len(roots) == 1 and len(roots[0]["children"]) == 1
