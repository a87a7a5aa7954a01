"""GET /products: search, filters, sorts, keyset pagination and cursors."""

from __future__ import annotations

from typing import Any


async def walk(catalog: Any, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await catalog.list(**params, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= params.get("limit", 20)
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


async def test_every_sort_pages_through_everything_once(catalog: Any) -> None:
    # Equal prices and names across page boundaries test the id tie-break.
    made = []
    for n in range(23):
        made.append(
            await catalog.create(
                name=["apple", "Banana", "cherry", "banana"][n % 4] + f" {n % 3}",
                sku=f"S-{n:02d}",
                price={"amount": 100 * (n % 5)},
                n=f"{n:02d}",
            )
        )
    ids = {p["id"] for p in made}
    newest = await walk(catalog, limit=5)
    assert [p["id"] for p in newest] == [p["id"] for p in reversed(made)]

    for sort, key, reverse in (
        ("price", lambda p: (p["price"]["amount"], p["id"]), False),
        ("-price", lambda p: (p["price"]["amount"], p["id"]), True),
        ("name", lambda p: (p["name"].casefold(), p["id"]), False),
        ("-name", lambda p: (p["name"].casefold(), p["id"]), True),
    ):
        for limit in (1, 4, 7, 100):
            got = await walk(catalog, sort=sort, limit=limit)
            assert [p["id"] for p in got] == [
                p["id"] for p in sorted(got, key=key, reverse=reverse)
            ], sort
            assert len(got) == len(ids) and {p["id"] for p in got} == ids, (sort, limit)

    item = newest[0]
    assert set(item) == {
        "id",
        "name",
        "slug",
        "price",
        "compare_at",
        "thumbnail_url",
        "available",
        "active",
        "category_ids",
    }


async def test_filters(catalog: Any) -> None:
    cheap = await catalog.create(name="Cheap Tea", price={"amount": 300}, on_hand=2)
    mid = await catalog.create(name="Green Tea", description="Sencha", price={"amount": 900})
    dear = await catalog.create(name="Matcha", sku="MATCHA-TEA", price={"amount": 2500}, on_hand=1)
    hidden = await catalog.create(name="Secret Tea", price={"amount": 500}, active=False, on_hand=9)

    async def ids(**params: Any) -> list[str]:
        answer = await catalog.list(**params)
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["items"]]

    assert await ids(sort="price") == [cheap["id"], mid["id"], dear["id"]]
    assert await ids(sort="price", min_price=300, max_price=900) == [cheap["id"], mid["id"]]
    assert await ids(sort="price", min_price=301) == [mid["id"], dear["id"]]
    assert await ids(sort="price", max_price=299) == []
    assert await ids(sort="price", in_stock=True) == [cheap["id"], dear["id"]]
    assert await ids(sort="price", q="TEA") == [cheap["id"], mid["id"], dear["id"]]  # sku too
    assert await ids(q="sencha") == [mid["id"]]  # the description
    assert await ids(q="  matcha ") == [dear["id"]]
    admin = await catalog.http.get(
        catalog.api("acme", "/products"),
        headers=catalog.admin,
        params={"include_inactive": True, "sort": "price"},
    )
    assert [p["id"] for p in admin.json()["items"]] == [
        cheap["id"],
        hidden["id"],
        mid["id"],
        dear["id"],
    ]
    assert (
        admin.json()["items"][1]["active"] is False and admin.json()["items"][1]["available"] == 0
    )

    reversed_range = await catalog.list(min_price=900, max_price=300)
    catalog.assert_problem(reversed_range, 422, "query.max_price")
    for params, field in (
        ({"min_price": -1}, "query.min_price"),
        ({"max_price": 10**14}, "query.max_price"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"sort": "popular"}, "query.sort"),
        ({"q": "x" * 101}, "query.q"),
        ({"q": "tab\there"}, "query.q"),
        ({"in_stock": "maybe"}, "query.in_stock"),
        ({"category": "no such"}, "query.category"),
        ({"category": "unknown"}, "query.category"),
    ):
        catalog.assert_problem(await catalog.list(**params), 422, field)


async def test_search_takes_wildcards_and_quotes_literally(catalog: Any) -> None:
    percent = await catalog.create(name="100% Cotton Tee")
    under = await catalog.create(name="snake_case mug")
    slash = await catalog.create(name="Either/Or", description="back\\slash and 'quotes'")
    plain = await catalog.create(name="Cotton 100 Tee snakeXcase")
    await catalog.create(name="ÉCLAIR Ünïcode")

    async def ids(q: str) -> list[str]:
        answer = await catalog.list(q=q)
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["items"]]

    assert await ids("100%") == [percent["id"]]
    assert await ids("%") == [percent["id"]]
    assert await ids("_") == [under["id"]]
    assert await ids("e_c") == [under["id"]]
    assert await ids("r/o") == [slash["id"]]
    assert await ids("\\") == [slash["id"]]
    assert await ids("'quotes'") == [slash["id"]]
    assert await ids("' OR 1=1 --") == []
    assert await ids("%'; DROP TABLE products; --") == []
    assert len(await ids("éclair ü")) == 1  # case-insensitive beyond ASCII, on both backends
    assert len(await ids("cotton")) == 2 and plain["id"] in await ids("cotton")
    assert len((await catalog.list()).json()["items"]) == 5


async def test_category_filter_includes_sub_categories(catalog: Any) -> None:
    await catalog.category("kitchen")
    await catalog.category("mugs", "kitchen")
    await catalog.category("espresso-cups", "mugs", slug="espresso")
    await catalog.category("garden")
    mug = await catalog.create(category_ids=["mugs"])
    cup = await catalog.create(category_ids=["espresso-cups", "garden"])
    pan = await catalog.create(category_ids=["kitchen"])
    rake = await catalog.create(category_ids=["garden"])

    async def ids(category: str, **params: Any) -> set[str]:
        answer = await catalog.list(category=category, **params)
        assert answer.status_code == 200, answer.text
        return {p["id"] for p in answer.json()["items"]}

    assert await ids("kitchen") == {mug["id"], cup["id"], pan["id"]}
    assert await ids("mugs") == {mug["id"], cup["id"]}
    assert await ids("espresso") == {cup["id"]}  # by slug
    assert await ids("garden") == {cup["id"], rake["id"]}
    assert len(await walk(catalog, category="kitchen", limit=1)) == 3

    # Moving a sub-tree moves its products with it.
    await catalog.category("mugs", "garden", version=2)
    assert await ids("kitchen") == {pan["id"]}
    assert await ids("garden") == {mug["id"], cup["id"], rake["id"]}
    await catalog.category("mugs", "kitchen", version=1)  # an older event: ignored
    assert await ids("kitchen") == {pan["id"]}


async def test_cursors_are_checked(catalog: Any) -> None:
    for n in range(3):
        await catalog.create(price={"amount": 100 + n}, n=f"c{n}")
    first = (await catalog.list(limit=1, sort="price", min_price=50)).json()
    cursor = first["next_cursor"]
    assert cursor
    nxt = await catalog.list(limit=1, sort="price", min_price=50, cursor=cursor)
    assert nxt.status_code == 200 and nxt.json()["items"][0]["price"]["amount"] == 101

    for params in (
        {"sort": "-price", "min_price": 50},
        {"sort": "price", "min_price": 51},
        {"sort": "price"},
        {"sort": "price", "min_price": 50, "q": "product"},
    ):
        body = catalog.assert_problem(
            await catalog.list(limit=1, cursor=cursor, **params), 400, "query.cursor"
        )
        assert "another sort or filter" in body["detail"]
    for garbage in ("garbage", "eyJ4IjoxfQ", "W10", cursor[:-3], "%%%", "a" * 600):
        answer = await catalog.list(limit=1, sort="price", min_price=50, cursor=garbage)
        field = "query.cursor"
        catalog.assert_problem(answer, 422 if len(garbage) > 512 else 400, field)
