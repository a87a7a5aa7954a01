"""ETags on reads, If-Match on writes, and concurrent writes from two tabs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from tests.integration.cart.conftest import CartClient, FakeCatalog, user_id
from tests.support.problems import assert_problem

Tab = Callable[..., CartClient]


async def test_a_stale_if_match_gets_412_and_changes_nothing(
    tab: Tab, catalog: FakeCatalog
) -> None:
    mug, tea = catalog.add("Mug"), catalog.add("Tea")
    me = tab(user=user_id())

    # No cart yet: there is no ETag, so no If-Match can match.
    assert_problem(await me.add(mug, headers={"If-Match": '"whatever"'}), 412)

    await me.add(mug)
    read = await me.get()
    etag = read.headers["etag"]
    ok = await me.add(tea, headers={"If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] != etag
    assert (await me.get()).headers["etag"] == ok.headers["etag"]

    for stale in (
        me.add(mug, headers={"If-Match": etag}),
        me.set(mug, 5, headers={"If-Match": etag}),
        me.remove(mug, headers={"If-Match": etag}),
        me.clear(headers={"If-Match": etag}),
        me.restore(headers={"If-Match": etag}),
    ):
        body = assert_problem(await stale, 412)
        assert body["type"].endswith("/precondition-failed")
    assert_problem(await me.add(mug, headers={"If-Match": f"W/{ok.headers['etag']}"}), 412)
    assert await me.quantities() == {mug: 1, tea: 1}

    current = (await me.get()).headers["etag"]
    assert (await me.set(mug, 2, headers={"If-Match": f'"x", {current}'})).status_code == 200
    assert (await me.add(tea, headers={"If-Match": "*"})).status_code == 200
    assert await me.quantities() == {mug: 2, tea: 2}


async def test_every_write_answers_with_the_new_etag(tab: Tab, catalog: FakeCatalog) -> None:
    mug = catalog.add("Mug")
    me = tab(user=user_id())
    seen = set()
    writes = [
        lambda: me.add(mug, 2),
        lambda: me.set(mug, 3),
        lambda: me.remove(mug),
        lambda: me.restore(),
        lambda: me.clear(),
    ]
    for write in writes:
        response = await write()
        assert response.status_code == 200, response.text
        etag = response.headers["etag"]
        assert etag not in seen
        seen.add(etag)
        assert (await me.get()).headers["etag"] == etag


async def test_concurrent_adds_from_two_tabs_lose_nothing(tab: Tab, catalog: FakeCatalog) -> None:
    mug = catalog.add("Mug", available=1000)
    tea = catalog.add("Tea", available=1000)
    user = user_id()
    first, second = tab(user=user), tab(user=user)  # the cart does not exist yet

    async def adds(client: CartClient, product_id: str, quantity: int) -> list[int]:
        return [(await client.add(product_id, quantity)).status_code]

    results = await asyncio.gather(
        *[adds(first, mug, 1) for _ in range(10)],
        *[adds(second, mug, 2) for _ in range(5)],
        *[adds(second, tea, 1) for _ in range(5)],
    )
    assert [code for codes in results for code in codes] == [200] * 20
    assert await first.quantities() == {mug: 20, tea: 5}


async def test_two_replicas_racing_on_one_cart_lose_nothing(
    tab: Tab, replica_tab: Tab, catalog: FakeCatalog
) -> None:
    """Two tabs on two app replicas: no shared lock, only the store's ETags order them."""
    mug = catalog.add("Mug", available=1000)
    user = user_id()
    first, second = tab(user=user), replica_tab(user=user)  # the cart does not exist yet
    responses = await asyncio.gather(
        *[first.add(mug, 1) for _ in range(10)], *[second.add(mug, 2) for _ in range(10)]
    )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert await first.quantities() == {mug: 30}
    assert await second.quantities() == {mug: 30}


async def test_concurrent_first_writes_of_an_anonymous_cart_lose_nothing(
    tab: Tab, catalog: FakeCatalog
) -> None:
    products = [catalog.add(f"P{n}") for n in range(20)]
    anon = tab()
    anon.cart_id = str(uuid.uuid4())  # a client-held id whose cart is not stored yet
    responses = await asyncio.gather(*[anon.add(product_id) for product_id in products])
    assert [r.status_code for r in responses] == [200] * 20
    assert set(await anon.quantities()) == set(products)


async def test_concurrent_removes_keep_every_removed_line(tab: Tab, catalog: FakeCatalog) -> None:
    products = [catalog.add(f"P{n}") for n in range(12)]
    me = tab(user=user_id())
    for product_id in products:
        await me.add(product_id)
    responses = await asyncio.gather(*[me.remove(product_id) for product_id in products])
    assert [r.status_code for r in responses] == [200] * 12
    assert await me.quantities() == {}
    removed = (await me.removed()).json()["items"]
    assert sorted(item["product_id"] for item in removed) == sorted(products)
