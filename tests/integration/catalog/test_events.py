"""The projections fed by other services' events, and what the catalog publishes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shopfleet.kit.blocks import Delivery


async def test_shop_created_fills_the_projection(catalog: Any) -> None:
    data = {
        "shop": "newco",
        "display_name": "New Co",
        "currency": "JPY",
        "created_at": datetime.now(UTC).isoformat(),
    }
    assert await catalog.pubsub.deliver("shop.created", data, shop="newco") == Delivery.SUCCESS
    product = await catalog.create("newco", price={"amount": 1500})
    assert product["price"] == {"amount": 1500, "currency": "JPY"}
    # The currency is known from the event; identity is asked only for the shop's quotas,
    # which change after the event (kept for a few seconds: kit/quotas.py).
    assert catalog.identity_calls == ["newco"]

    broken = await catalog.pubsub.deliver("shop.created", {"shop": "x"}, shop="x")
    assert broken == Delivery.DROP


async def test_category_events_apply_only_newer_versions(catalog: Any) -> None:
    await catalog.category("mugs", version=3)
    await catalog.category("mugs", version=2, slug="old-mugs")  # late and older: ignored
    product = await catalog.create(category_ids=["mugs"])
    assert (await catalog.list(category="old-mugs")).status_code == 422
    assert len((await catalog.list(category="mugs")).json()["items"]) == 1

    # An older delete changes nothing; the same event delivered twice applies once.
    await catalog.delete_category("mugs", version=1)
    assert (await catalog.get(product["id"])).json()["category_ids"] == ["mugs"]
    event = {"category_id": "mugs", "version": 4}
    for _ in range(2):
        delivered = await catalog.pubsub.deliver("category.deleted", event, event_id="evt-del-1")
        assert delivered == Delivery.SUCCESS
    after = (await catalog.get(product["id"])).json()
    assert after["category_ids"] == [] and after["version"] == 2
    updates = await catalog.pubsub.wait_for("product.updated", 2, product_id=product["id"])
    assert updates[-1].data["category_ids"] == [] and updates[-1].data["version"] == 2
    # The deleted category is gone for filters and new products, and stays gone.
    catalog.assert_problem(await catalog.list(category="mugs"), 422, "query.category")
    await catalog.category("mugs", version=3)
    again = await catalog.http.post(
        catalog.api("acme", "/products"),
        headers=catalog.admin,
        json={"name": "M", "sku": "M", "price": {"amount": 1}, "category_ids": ["mugs"]},
    )
    catalog.assert_problem(again, 422, "body.category_ids")


async def test_categories_are_per_shop(catalog: Any) -> None:
    await catalog.category("tools", shop="bolt")
    answer = await catalog.http.post(
        catalog.api("acme", "/products"),
        headers=catalog.admin,
        json={"name": "M", "sku": "M", "price": {"amount": 1}, "category_ids": ["tools"]},
    )
    catalog.assert_problem(answer, 422, "body.category_ids")
    assert (await catalog.create("bolt", category_ids=["tools"]))["category_ids"] == ["tools"]
    nameless = await catalog.pubsub.deliver(
        "category.updated",
        {
            "category_id": "x",
            "parent_id": None,
            "slug": "x",
            "name": "X",
            "position": 0,
            "version": 1,
        },
        shop="",
    )
    assert nameless == Delivery.DROP
    too_long = {
        "category_id": "x" * 65,
        "parent_id": None,
        "slug": "x",
        "name": "X",
        "position": 0,
        "version": 1,
    }
    assert await catalog.pubsub.deliver("category.updated", too_long) == Delivery.DROP
    bad_currency = {
        "shop": "zz",
        "display_name": "Z",
        "currency": "EURO",
        "created_at": "2025-01-01T00:00:00Z",
    }
    assert await catalog.pubsub.deliver("shop.created", bad_currency, shop="zz") == Delivery.DROP


async def test_events_carry_the_product_as_it_is_now(catalog: Any) -> None:
    await catalog.category("mugs")
    product = await catalog.create(
        name="Mug", sku="MUG-9", price={"amount": 700}, on_hand=4, category_ids=["mugs"]
    )
    [event] = await catalog.pubsub.wait_for("product.updated", 1, product_id=product["id"])
    assert event.source == "catalog" and event.shop == "acme"
    assert event.data == {
        "product_id": product["id"],
        "name": "Mug",
        "slug": "mug",
        "sku": "MUG-9",
        "price_amount": 700,
        "currency": "EUR",
        "active": True,
        "category_ids": ["mugs"],
        "available": 4,
        "created_at": event.data["created_at"],
        "version": 1,
    }
    assert datetime.fromisoformat(event.data["created_at"]) == datetime.fromisoformat(
        product["created_at"]
    )
