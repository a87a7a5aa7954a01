"""Stock reservations for orders: all or nothing, idempotent, atomic under concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

RESERVE = "/internal/shops/{shop}/reservations/{order}"


def reservation(order: str, shop: str = "acme") -> str:
    return RESERVE.format(shop=shop, order=order)


def lines(*pairs: tuple[str, int]) -> dict[str, Any]:
    return {"lines": [{"product_id": pid, "quantity": q} for pid, q in pairs]}


async def stock_of(catalog: Any, product_id: str) -> dict[str, int]:
    return (await catalog.get(product_id, headers=catalog.admin)).json()["stock"]


async def test_reserve_commit_release(catalog: Any) -> None:
    mug = await catalog.create(on_hand=10, low_stock_threshold=2)
    tea = await catalog.create(on_hand=5)
    order = lines((mug["id"], 3), (tea["id"], 1), (mug["id"], 5))  # the same product twice

    first = await catalog.internal("PUT", reservation("o-1"), json=order)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "reserved" and first.json()["shortages"] == []
    assert await stock_of(catalog, mug["id"]) == {
        "on_hand": 10,
        "reserved": 8,
        "available": 2,
        "low_stock_threshold": 2,
    }
    again = await catalog.internal("PUT", reservation("o-1"), json=order)
    assert again.json() == first.json()
    assert (await stock_of(catalog, mug["id"]))["reserved"] == 8  # nothing taken twice
    other = await catalog.internal("PUT", reservation("o-1"), json=lines((mug["id"], 1)))
    catalog.assert_problem(other, 409)

    low = await catalog.pubsub.wait_for("stock.low", 1, product_id=mug["id"])
    assert low[0].data == {"product_id": mug["id"], "available": 2, "threshold": 2}
    updated = await catalog.pubsub.wait_for("product.updated", 2, product_id=mug["id"])
    assert updated[-1].data["available"] == 2 and updated[-1].data["version"] == 2

    committed = await catalog.internal("POST", reservation("o-1") + "/commit")
    assert committed.status_code == 200 and committed.json()["status"] == "committed"
    assert (await catalog.internal("POST", reservation("o-1") + "/commit")).json()[
        "status"
    ] == "committed"
    assert await stock_of(catalog, mug["id"]) == {
        "on_hand": 2,
        "reserved": 0,
        "available": 2,
        "low_stock_threshold": 2,
    }
    assert (await stock_of(catalog, tea["id"]))["on_hand"] == 4

    await catalog.internal("PUT", reservation("o-2"), json=lines((tea["id"], 4)))
    assert (await catalog.get(tea["id"])).json()["available"] == 0
    released = await catalog.internal("DELETE", reservation("o-2"))
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert (await catalog.internal("DELETE", reservation("o-2"))).json()["status"] == "released"
    assert await stock_of(catalog, tea["id"]) == {
        "on_hand": 4,
        "reserved": 0,
        "available": 4,
        "low_stock_threshold": 5,
    }
    catalog.assert_problem(await catalog.internal("POST", reservation("o-2") + "/commit"), 409)
    catalog.assert_problem(await catalog.internal("POST", reservation("nope") + "/commit"), 404)
    catalog.assert_problem(await catalog.internal("DELETE", reservation("nope")), 404)
    # Created, reserved, reserved, released. Committing (version 3) left availability as it
    # was (on hand and reserved both went down), so it told consumers nothing.
    events = await catalog.pubsub.wait_for("product.updated", 4, product_id=tea["id"])
    assert [(e.data["available"], e.data["version"]) for e in events] == [
        (5, 1),
        (4, 2),
        (0, 4),
        (4, 5),
    ]


async def test_releasing_a_paid_order_puts_its_units_back_on_hand(catalog: Any) -> None:
    mug = await catalog.create(on_hand=10)
    await catalog.internal("PUT", reservation("o-9"), json=lines((mug["id"], 3)))
    await catalog.internal("POST", reservation("o-9") + "/commit")
    assert (await stock_of(catalog, mug["id"]))["on_hand"] == 7

    released = await catalog.internal("DELETE", reservation("o-9"))
    assert released.status_code == 200 and released.json()["status"] == "released"
    again = await catalog.internal("DELETE", reservation("o-9"))
    assert again.json()["status"] == "released"  # restocked once
    assert await stock_of(catalog, mug["id"]) == {
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "low_stock_threshold": 5,
    }
    catalog.assert_problem(await catalog.internal("POST", reservation("o-9") + "/commit"), 409)


async def test_all_lines_or_none(catalog: Any) -> None:
    plenty = await catalog.create(on_hand=100)
    few = await catalog.create(on_hand=2)
    draft = await catalog.create(on_hand=50, active=False)
    gone = await catalog.create(on_hand=50)
    await catalog.http.delete(catalog.api("acme", f"/products/{gone['id']}"), headers=catalog.admin)
    unknown = "00000000-0000-0000-0000-000000000000"

    big = lines((plenty["id"], 10), (few["id"], 3), (draft["id"], 1), (gone["id"], 1), (unknown, 2))
    answer = await catalog.internal("PUT", reservation("big"), json=big)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status"] == "rejected"
    shortages = {(s["product_id"], s["requested"], s["available"]) for s in result["shortages"]}
    assert shortages == {
        (few["id"], 3, 2),
        (draft["id"], 1, 0),
        (gone["id"], 1, 0),
        (unknown, 2, 0),
    }
    assert (await stock_of(catalog, plenty["id"]))["reserved"] == 0  # rolled back
    # The outcome is recorded: asking again answers the same, even once stock would suffice.
    await catalog.http.put(
        catalog.api("acme", f"/products/{few['id']}/stock"),
        headers=catalog.admin,
        json={"on_hand": 9},
    )
    again = await catalog.internal("PUT", reservation("big"), json=big)
    assert again.json() == result
    assert (await catalog.internal("DELETE", reservation("big"))).json()["status"] == "rejected"

    for body, field in (
        (lines((plenty["id"], 0)), "body.lines.0.quantity"),
        (lines((plenty["id"], 10**9)), "body.lines.0.quantity"),
        (lines(("not an id!", 1)), "body.lines.0.product_id"),
        ({"lines": []}, "body.lines"),
        (
            {"lines": [{"product_id": plenty["id"], "quantity": 1, "price": 1}]},
            "body.lines.0.price",
        ),
    ):
        catalog.assert_problem(
            await catalog.internal("PUT", reservation("bad"), json=body), 422, field
        )
    catalog.assert_problem(
        await catalog.internal("PUT", reservation("bad id!"), json=lines((plenty["id"], 1))),
        422,
        "path.order_id",
    )
    # Another shop's products cannot be reserved through this shop.
    cross = await catalog.internal(
        "PUT", reservation("x", shop="bolt"), json=lines((plenty["id"], 1))
    )
    assert cross.json()["status"] == "rejected"


async def test_50_concurrent_orders_for_the_last_10_units_reserve_exactly_10(catalog: Any) -> None:
    product = await catalog.create(on_hand=10, low_stock_threshold=0)
    spare = await catalog.create(on_hand=1000)

    async def order(n: int) -> httpx.Response:
        # Half the orders also take a unit of a plentiful product: it rolls back when short.
        pairs = [(product["id"], 1)] + ([(spare["id"], 1)] if n % 2 else [])
        return await catalog.internal("PUT", reservation(f"race-{n}"), json=lines(*pairs))

    answers = await asyncio.gather(*(order(n) for n in range(50)))
    assert all(a.status_code == 200 for a in answers), [
        a.text for a in answers if a.status_code != 200
    ]
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("reserved") == 10 and statuses.count("rejected") == 40
    assert await stock_of(catalog, product["id"]) == {
        "on_hand": 10,
        "reserved": 10,
        "available": 0,
        "low_stock_threshold": 0,
    }
    won_spare = sum(1 for n, s in enumerate(statuses) if s == "reserved" and n % 2)
    assert (await stock_of(catalog, spare["id"]))["reserved"] == won_spare
    # Replaying every order changes nothing.
    replay = await asyncio.gather(*(order(n) for n in range(50)))
    assert [a.json()["status"] for a in replay] == statuses
    assert (await stock_of(catalog, product["id"]))["reserved"] == 10
    events = await catalog.pubsub.wait_for("product.updated", 11, product_id=product["id"])
    assert sorted(e.data["available"] for e in events[1:]) == list(range(10))
    assert len(await catalog.pubsub.wait_for("stock.low", 1, product_id=product["id"])) == 1


async def test_the_same_order_reserved_concurrently_takes_stock_once(catalog: Any) -> None:
    product = await catalog.create(on_hand=10)
    body = lines((product["id"], 2))
    answers = await asyncio.gather(
        *(catalog.internal("PUT", reservation("dup"), json=body) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["status"] for a in answers} == {"reserved"}
    assert (await stock_of(catalog, product["id"]))["reserved"] == 2


async def test_lookup_snapshots(catalog: Any) -> None:
    mug = await catalog.create(name="Mug", price={"amount": 1250}, on_hand=3)
    bolt = await catalog.create("bolt", on_hand=3)
    answer = await catalog.internal(
        "POST",
        "/internal/shops/acme/products/lookup",
        json={"ids": [mug["id"], bolt["id"], "junk", mug["id"]]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["missing"] == [bolt["id"], "junk"]
    [snapshot] = body["items"]
    assert snapshot == {
        "id": mug["id"],
        "name": "Mug",
        "slug": "mug",
        "sku": mug["sku"],
        "price": {"amount": 1250, "currency": "EUR"},
        "available": 3,
        "active": True,
        "image_url": None,
        "weight_grams": 0,
    }
    too_many = await catalog.internal(
        "POST", "/internal/shops/acme/products/lookup", json={"ids": ["a"] * 101}
    )
    catalog.assert_problem(too_many, 422, "body.ids")
