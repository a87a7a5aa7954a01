"""`GET /categories` from the tree cache: the same bytes as before, and never stale.

The cache (`tree_cache.TreeCache`) keeps each shop's tree as JSON while the tree's version
(revision, newest `updated_at`) is unchanged: these pin that its answer is what FastAPI made
of the `CategoryTree` the route returned before, and that a write made here or by another
replica (a second app on the same database), a purge included, is seen by the next read.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from shopfleet.categories import service
from shopfleet.categories.models import CategoryTree
from shopfleet.kit.db import Database
from shopfleet.kit.tenant_data import purge_shop

SHOP = "acme"


async def orm_route_answer(db: Database) -> bytes:
    """What the former route sent: the ORM-loaded tree returned as a `CategoryTree`."""
    app = FastAPI()

    @app.get("/tree")
    async def tree() -> CategoryTree:
        async with db.reader() as session:
            return await service.get_tree(session, SHOP)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get("/tree")).content


async def read(categories: Any) -> httpx.Response:
    answer = await categories.http.get(categories.api("/categories"))
    assert answer.status_code == 200, answer.text
    return answer


async def test_the_tree_reads_as_the_orm_route_sent_it(categories: Any) -> None:
    db: Database = categories.app.state.db
    assert (await read(categories)).content == await orm_route_answer(db)  # no tree yet
    home = await categories.create("Home & Küche ☕", description='Pots, "pans"\nand\tmore')
    await categories.create("Mugs", parent_id=home["id"], position=2)
    await categories.create("Bowls", parent_id=home["id"], position=1)
    await categories.create("Garden")
    for _ in range(2):  # built, then from memory
        answer = await read(categories)
        assert answer.content == await orm_route_answer(db)
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["cache-control"] == "no-cache"
    assert answer.json()["count"] == 4


async def test_every_write_is_seen_by_the_next_read_in_any_replica(
    categories: Any, start_categories: Any
) -> None:
    other = await start_categories()  # another replica: same database, its own memory
    made = await categories.create("Shoes")
    for app in (categories, other):
        assert [c["name"] for c in (await read(app)).json()["items"]] == ["Shoes"]

    renamed = await other.patch(made["id"], name="Boots")  # written by the other replica
    assert renamed.status_code == 200, renamed.text
    answer = await read(categories)
    assert [c["name"] for c in answer.json()["items"]] == ["Boots"]
    assert answer.headers["etag"] == (await read(other)).headers["etag"]

    child = await categories.create("Hiking", parent_id=made["id"])
    assert (await other.delete(child["id"])).status_code == 200
    assert (await read(categories)).json()["items"][0]["children"] == []


async def test_a_purged_shop_rebuilt_to_the_same_revision_is_not_served_from_memory(
    categories: Any, start_categories: Any
) -> None:
    other = await start_categories()
    await categories.create("Before")
    before = await read(categories)
    await purge_shop(other.app.state.db, SHOP)  # another replica purges: this one is not told
    await other.create("After")  # the revision counts again from 0: the same as before
    after = await read(categories)
    assert after.headers["etag"] == before.headers["etag"]
    assert [c["name"] for c in after.json()["items"]] == ["After"]
