"""Catalog's product events feed the products projection: once each, newest version wins."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shopfleet.kit.blocks import Blocks, CloudEvent, Delivery
from shopfleet.kit.blocks.local import LocalPubSub, LocalSecrets, LocalStateStore
from shopfleet.kit.blocks.local.invoker import LocalInvoker
from shopfleet.kit.contracts.events import PRODUCT_DELETED, PRODUCT_UPDATED


async def _listed(categories: Any, category_id: str) -> list[dict[str, Any]]:
    return await categories.all_products(category_id)


async def test_product_updated_puts_a_product_in_its_categories(categories: Any) -> None:
    subs = categories.pubsub.subscriptions
    assert set(subs) == {PRODUCT_UPDATED, PRODUCT_DELETED}
    assert {s.consumer for topic in subs for s in subs[topic]} == {"categories"}

    shoes = await categories.create("Shoes")
    pid = str(uuid.uuid4())
    event = categories.product_updated(
        pid, categories=[shoes["id"]], name="Trail Runner", price=12_999, available=3
    )
    assert await categories.deliver(event) == Delivery.SUCCESS
    (item,) = await _listed(categories, shoes["id"])
    assert item == {
        "id": pid,
        "name": "Trail Runner",
        "slug": f"p-{pid[:8]}",
        "price_amount": 12_999,
        "currency": "EUR",
        "available": 3,
    }


async def test_redelivery_and_older_versions_change_nothing(categories: Any) -> None:
    shoes = await categories.create("Shoes")
    hats = await categories.create("Hats")
    pid = str(uuid.uuid4())
    v2 = categories.product_updated(pid, version=2, categories=[hats["id"]], name="New name")
    v1 = categories.product_updated(pid, version=1, categories=[shoes["id"]], name="Old name")

    assert await categories.deliver(v2) == Delivery.SUCCESS
    assert await categories.deliver(v2) == Delivery.SUCCESS  # the same event again
    assert await categories.deliver(v1) == Delivery.SUCCESS  # late, older: ignored
    # The same version in another event (say catalog's relay published it twice) is ignored.
    same = categories.product_updated(pid, version=2, categories=[shoes["id"]], name="Other")
    assert await categories.deliver(same) == Delivery.SUCCESS

    assert await _listed(categories, shoes["id"]) == []
    (item,) = await _listed(categories, hats["id"])
    assert item["name"] == "New name"

    v3 = categories.product_updated(pid, version=3, categories=[shoes["id"]], price=500)
    assert await categories.deliver(v3) == Delivery.SUCCESS
    assert await _listed(categories, hats["id"]) == []
    assert [p["price_amount"] for p in await _listed(categories, shoes["id"])] == [500]


async def test_a_deleted_product_is_not_revived_by_an_older_update(categories: Any) -> None:
    shoes = await categories.create("Shoes")
    pid = await categories.add_product(version=1, categories=[shoes["id"]])
    assert await categories.deliver(categories.product_deleted(pid, version=3)) == Delivery.SUCCESS
    assert await _listed(categories, shoes["id"]) == []

    late = categories.product_updated(pid, version=2, categories=[shoes["id"]])
    assert await categories.deliver(late) == Delivery.SUCCESS
    assert await _listed(categories, shoes["id"]) == []
    # An older delete after the tombstone changes nothing either.
    assert await categories.deliver(categories.product_deleted(pid, version=2)) == Delivery.SUCCESS

    # A newer update (catalog restored it) does bring it back.
    restored = categories.product_updated(pid, version=4, categories=[shoes["id"]])
    assert await categories.deliver(restored) == Delivery.SUCCESS
    assert [p["id"] for p in await _listed(categories, shoes["id"])] == [pid]

    # A delete that arrives before any update leaves a tombstone all the same.
    other = str(uuid.uuid4())
    assert (
        await categories.deliver(categories.product_deleted(other, version=5)) == Delivery.SUCCESS
    )
    early = categories.product_updated(other, version=4, categories=[shoes["id"]])
    assert await categories.deliver(early) == Delivery.SUCCESS
    assert [p["id"] for p in await _listed(categories, shoes["id"])] == [pid]


async def test_shops_stay_apart_and_unknown_category_ids_link_nothing(categories: Any) -> None:
    shoes = await categories.create("Shoes")
    theirs = await categories.create("Theirs", shop=categories.OTHER_SHOP)
    pid = await categories.add_product(
        categories=[shoes["id"], str(uuid.uuid4()), theirs["id"], shoes["id"]]
    )
    assert [p["id"] for p in await _listed(categories, shoes["id"])] == [pid]
    # Another shop's listing of its own category does not see this shop's product.
    answer = await categories.http.get(
        categories.api(f"/categories/{theirs['id']}/products", categories.OTHER_SHOP)
    )
    assert answer.json()["items"] == []

    # One product id in two shops: two products.
    await categories.add_product(
        pid, categories=[theirs["id"]], name="Theirs", version=1, shop=categories.OTHER_SHOP
    )
    await categories.add_product(pid, categories=[shoes["id"]], name="Ours", version=5)
    assert [p["name"] for p in await _listed(categories, shoes["id"])] == ["Ours"]
    answer = await categories.http.get(
        categories.api(f"/categories/{theirs['id']}/products", categories.OTHER_SHOP)
    )
    assert [p["name"] for p in answer.json()["items"]] == ["Theirs"]


async def test_events_that_can_never_apply_are_dropped(categories: Any) -> None:
    good = categories.product_updated(str(uuid.uuid4()))
    broken = [
        CloudEvent(
            id=str(uuid.uuid4()), topic=PRODUCT_UPDATED, data={"product_id": "x"}, shop="acme"
        ),
        CloudEvent(id=str(uuid.uuid4()), topic=PRODUCT_UPDATED, data=None, shop="acme"),
        CloudEvent(id=str(uuid.uuid4()), topic=PRODUCT_UPDATED, data=good.data, shop=""),
        CloudEvent(id=str(uuid.uuid4()), topic=PRODUCT_DELETED, data={"version": 1}, shop="acme"),
        categories.product_updated("not a product id!"),
        categories.product_deleted("x" * 100, version=1),
        categories.product_updated(str(uuid.uuid4()), name="n" * 300),
        categories.product_updated(str(uuid.uuid4()), name="nul\x00"),
        categories.product_updated(str(uuid.uuid4()), price=2**70),
        categories.product_updated(str(uuid.uuid4()), version=-1),
        categories.product_deleted(str(uuid.uuid4()), version=2**64),
    ]
    for event in broken:
        assert await categories.deliver(event) == Delivery.DROP, event


async def test_events_arrive_through_the_local_pubsub(
    start_categories: Any, tmp_path: Path
) -> None:
    """Wired as the embedded platform wires it: subscriptions declared, then pub/sub started."""
    state = await LocalStateStore.open(tmp_path / "local-state.db")
    pubsub = await LocalPubSub.open(tmp_path / "pubsub.db", retry_base_s=0.05, poll_s=0.1)
    blocks = Blocks(state=state, pubsub=pubsub, invoker=LocalInvoker(), secrets=LocalSecrets())
    try:
        cats = await start_categories(app_blocks=blocks)
        await pubsub.start()
        shoes = await cats.create("Shoes")
        pid = str(uuid.uuid4())
        await pubsub.publish(cats.product_updated(pid, categories=[shoes["id"]]))
        await pubsub.publish(
            cats.product_updated(pid, version=2, categories=[shoes["id"]], price=7)
        )
        items: list[dict[str, Any]] = []
        for _ in range(250):
            items = (await cats.products(shoes["id"])).json()["items"]
            if items and items[0]["price_amount"] == 7:
                break
            await asyncio.sleep(0.02)
        assert [(p["id"], p["price_amount"]) for p in items] == [(pid, 7)]
        assert await pubsub.dead_letters() == []
    finally:
        await pubsub.stop()
        await pubsub.close()
        await state.close()


async def test_a_stock_move_keeps_the_links_without_rewriting_them(categories: Any) -> None:
    """Every checkout moves a product's stock, so most `product.updated` events change only
    `available`: the projection updates the row and leaves the links alone (it used to
    delete and insert them again each time)."""
    shoes = await categories.create("Shoes")
    pid = str(uuid.uuid4())
    first = categories.product_updated(pid, version=1, categories=[shoes["id"]], available=5)
    assert await categories.deliver(first) == Delivery.SUCCESS

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        moved = categories.product_updated(pid, version=2, categories=[shoes["id"]], available=4)
        assert await categories.deliver(moved) == Delivery.SUCCESS
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)

    assert [p["available"] for p in await _listed(categories, shoes["id"])] == [4]
    rewrites = [s for s in statements if "category_product_links" in s and "SELECT" not in s]
    assert rewrites == []


async def test_a_changed_category_set_relinks(categories: Any) -> None:
    shoes, hats = await categories.create("Shoes"), await categories.create("Hats")
    pid = str(uuid.uuid4())
    for version, linked in ((1, [shoes["id"]]), (2, [shoes["id"], hats["id"]]), (3, [hats["id"]])):
        event = categories.product_updated(pid, version=version, categories=linked)
        assert await categories.deliver(event) == Delivery.SUCCESS
        assert [p["id"] for p in await _listed(categories, hats["id"])] == (
            [pid] if hats["id"] in linked else []
        )
        assert [p["id"] for p in await _listed(categories, shoes["id"])] == (
            [pid] if shoes["id"] in linked else []
        )
