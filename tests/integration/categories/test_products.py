"""GET /categories/{id}/products: active products of a category and everything below it."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any


async def _catalog(categories: Any) -> dict[str, Any]:
    """Shoes > (Boots > Hiking, Sandals); Hats elsewhere; 23 products spread over them."""
    shoes, boots, hiking = await categories.chain("Shoes", "Boots", "Hiking")
    sandals = await categories.create("Sandals", parent_id=shoes["id"])
    hats = await categories.create("Hats")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    homes = [shoes, boots, hiking, sandals]
    ids = {}
    for n in range(20):
        home = homes[n % 4]
        # Prices repeat (ties are broken by id); one product is in two categories of the subtree.
        cats = [home["id"], hats["id"]] if n % 5 == 0 else [home["id"]]
        if n == 7:
            cats.append(shoes["id"])
        ids[n] = await categories.add_product(
            name=f"item {n:02d}",
            price=100 * (n % 6),
            categories=cats,
            created_at=start + timedelta(hours=n),
        )
    hidden = await categories.add_product(name="inactive", categories=[boots["id"]], active=False)
    gone = await categories.add_product(name="deleted", categories=[hiking["id"]])
    await categories.deliver(categories.product_deleted(gone, version=2))
    only_hats = await categories.add_product(name="hat only", categories=[hats["id"]])
    return dict(
        shoes=shoes,
        boots=boots,
        hiking=hiking,
        sandals=sandals,
        hats=hats,
        ids=ids,
        hidden=hidden,
        gone=gone,
        only_hats=only_hats,
    )


async def test_a_listing_includes_descendants_once_and_only_active_products(
    categories: Any,
) -> None:
    c = await _catalog(categories)
    everything = await categories.all_products(c["shoes"]["id"], limit=100)
    assert sorted(p["id"] for p in everything) == sorted(c["ids"].values())  # no duplicates
    assert [p["name"] for p in everything] == [f"item {n:02d}" for n in range(20)]

    boots = await categories.all_products(c["boots"]["id"])
    expected = [n for n in range(20) if n % 4 in (1, 2)]  # Boots and Hiking
    assert [p["name"] for p in boots] == [f"item {n:02d}" for n in expected]
    hiking = await categories.all_products(c["hiking"]["id"])
    assert [p["name"] for p in hiking] == [f"item {n:02d}" for n in range(20) if n % 4 == 2]

    hats = {p["id"] for p in await categories.all_products(c["hats"]["id"])}
    assert hats == {c["ids"][n] for n in (0, 5, 10, 15)} | {c["only_hats"]}


async def test_pages_cover_everything_without_gaps_or_duplicates(categories: Any) -> None:
    c = await _catalog(categories)
    for sort in ("name", "price", "-price", "newest"):
        whole = (await categories.products(c["shoes"]["id"], sort=sort, limit=100)).json()
        assert whole["next_cursor"] is None and len(whole["items"]) == 20
        for limit in (1, 3, 7, 20):
            paged = await categories.all_products(c["shoes"]["id"], sort=sort, limit=limit)
            assert paged == whole["items"], (sort, limit)
        exact = (await categories.products(c["shoes"]["id"], sort=sort, limit=20)).json()
        assert exact["next_cursor"] is None  # a full last page says it is the last


async def test_sorts(categories: Any) -> None:
    c = await _catalog(categories)
    shoes = c["shoes"]["id"]

    def key(p: dict[str, Any]) -> tuple[int, str]:
        return (p["price_amount"], p["id"])

    by_price = await categories.all_products(shoes, sort="price", limit=6)
    assert by_price == sorted(by_price, key=key)
    by_price_desc = await categories.all_products(shoes, sort="-price", limit=6)
    assert [p["price_amount"] for p in by_price_desc] == sorted(
        (p["price_amount"] for p in by_price), reverse=True
    )
    newest = await categories.all_products(shoes, sort="newest", limit=6)
    assert [p["name"] for p in newest] == [f"item {n:02d}" for n in reversed(range(20))]


async def test_the_listing_follows_product_and_category_changes(categories: Any) -> None:
    c = await _catalog(categories)
    pid = c["ids"][3]  # in Sandals
    moved = categories.product_updated(pid, version=2, categories=[c["hats"]["id"]], name="moved")
    await categories.deliver(moved)
    assert pid not in {p["id"] for p in await categories.all_products(c["shoes"]["id"])}
    assert "moved" in {p["name"] for p in await categories.all_products(c["hats"]["id"])}
    off = categories.product_updated(pid, version=3, categories=[c["hats"]["id"]], active=False)
    await categories.deliver(off)
    assert pid not in {p["id"] for p in await categories.all_products(c["hats"]["id"])}

    # Moving a category moves its products (and those below it) with it.
    await categories.patch(c["boots"]["id"], parent_id=c["hats"]["id"])
    shoes = await categories.all_products(c["shoes"]["id"], limit=100)
    assert [p["name"] for p in shoes] == [
        f"item {n:02d}"
        for n in range(20)
        if n % 4 in (0, 3) and n != 3  # 3 moved to Hats
    ]
    hats = {p["id"] for p in await categories.all_products(c["hats"]["id"], limit=100)}
    in_boots = {c["ids"][n] for n in range(20) if n % 4 in (1, 2)}
    in_hats = {c["ids"][n] for n in (0, 5, 10, 15)} | {c["only_hats"]}
    assert hats == in_boots | in_hats


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def test_bad_cursors_are_400_and_bad_parameters_422(categories: Any) -> None:
    shoes = await categories.create("Shoes")
    for n in range(3):
        await categories.add_product(categories=[shoes["id"]], name=f"p{n}")
    first = (await categories.products(shoes["id"], limit=1)).json()
    assert first["next_cursor"]
    pid = str(uuid.uuid4())
    bad = [
        "garbage",
        "!!!",
        "",
        _b64({"a": 1}),
        _b64(["name", "x"]),
        _b64(["name", 1, pid]),
        _b64(["price", "cheap", pid]),
        _b64(["price", True, pid]),
        _b64(["price", 10**30, pid]),
        _b64(["newest", "yesterday", pid]),
        _b64(["newest", "2026-01-01T00:00:00", pid]),  # no offset
        _b64(["name", "a", "' OR 1=1 --"]),
        _b64(["name", "nul\u0000", pid]),  # PostgreSQL cannot hold NUL
        _b64(["name", "\ud800", pid]),  # nor a lone surrogate
        _b64(["newest", "0001-01-01T00:00:00+14:00", pid]),  # before year 1 in UTC
        _b64(["bogus", "a", pid]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]
    for cursor in bad:
        answer = await categories.products(shoes["id"], cursor=cursor)
        if cursor == "":  # an empty cursor is no cursor: the first page
            assert answer.status_code == 200
            continue
        body = categories.assert_problem(answer, 400, "query.cursor")
        assert body["type"].endswith("/bad-cursor"), cursor
    # A cursor of one sort is refused by another.
    answer = await categories.products(shoes["id"], cursor=first["next_cursor"], sort="price")
    body = categories.assert_problem(answer, 400, "query.cursor")
    assert "sort" in body["detail"]
    too_long = await categories.products(shoes["id"], cursor="a" * 2000)
    categories.assert_problem(too_long, 422, "query.cursor")

    for params, field in [
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"sort": "price_asc"}, "query.sort"),
    ]:
        answer = await categories.products(shoes["id"], **params)
        categories.assert_problem(answer, 422, field)
