"""Catalog, categories and cart through the gateway, as a shop admin and a shopper."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable

import pytest
from PIL import Image

from shopfleet.platform import EmbeddedPlatform
from tests.support.platform import Shopper


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Projections follow events within milliseconds here; allow a few seconds."""
    for _ in range(int(timeout_s / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def png(color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), color).save(buffer, "PNG")
    return buffer.getvalue()


async def test_admin_builds_a_category_tree_and_a_product(
    platform: EmbeddedPlatform, shopper: Shopper
) -> None:
    assert platform.demo is not None
    admin = shopper.bearer(
        await shopper.tokens(platform.demo.admin_email, platform.demo.admin_password)
    )
    http, api = shopper.client, shopper.api
    bikes = (await http.post(f"{api}/categories", json={"name": "Bikes"}, headers=admin)).json()
    road = await http.post(
        f"{api}/categories", json={"name": "Road", "parent_id": bikes["id"]}, headers=admin
    )
    assert road.status_code == 201, road.text
    road = road.json()

    async def catalog_knows_road() -> bool:
        probe = await http.get(f"{api}/products", params={"category": road["id"]})
        return probe.status_code == 200

    await eventually(catalog_knows_road)
    created = await http.post(
        f"{api}/products",
        headers=admin,
        json={
            "name": "Carbon Road Bike",
            "sku": "BIKE-ROAD-1",
            "description": "Light and fast.",
            "price": {"amount": 129900, "currency": "EUR"},
            "category_ids": [road["id"]],
            "on_hand": 5,
        },
    )
    assert created.status_code == 201, created.text
    product = created.json()

    repriced = await http.put(
        f"{api}/products/{product['id']}/price", json={"amount": 119900}, headers=admin
    )
    assert repriced.status_code == 200 and repriced.json()["price"]["amount"] == 119900
    history = (await http.get(f"{api}/products/{product['id']}/prices", headers=admin)).json()
    assert [p["amount"] for p in history["items"]][:2] == [119900, 129900]

    upload = await http.post(
        f"{api}/products/{product['id']}/images",
        headers=admin,
        files={"file": ("bike.png", png(), "image/png")},
    )
    assert upload.status_code == 201, upload.text
    image = upload.json()
    full = await http.get(image["url"])
    thumb = await http.get(image["thumbnail_url"])
    assert full.status_code == 200 and full.headers["content-type"].startswith("image/")
    assert thumb.status_code == 200 and len(thumb.content) < len(full.content)
    assert "immutable" in full.headers["cache-control"]

    restocked = await http.put(
        f"{api}/products/{product['id']}/stock", json={"on_hand": 3}, headers=admin
    )
    assert restocked.status_code == 200 and restocked.json()["available"] == 3

    # the parent category lists the product of its sub-category (categories' projection)
    async def listed_under_bikes() -> bool:
        page = (await http.get(f"{api}/categories/{bikes['id']}/products")).json()
        return [item["id"] for item in page["items"]] == [product["id"]]

    await eventually(listed_under_bikes)
    by_category = (await http.get(f"{api}/products", params={"category": bikes["id"]})).json()
    assert [item["id"] for item in by_category["items"]] == [product["id"]]

    # a shopper cannot do any of this
    user_token = shopper.bearer(
        await shopper.tokens(platform.demo.shopper_email, platform.demo.shopper_password)
    )
    forbidden = await http.put(
        f"{api}/products/{product['id']}/price", json={"amount": 1}, headers=user_token
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize("platform", ["sqlite", "postgresql+redis"], indirect=True)
async def test_shopper_browses_searches_and_fills_a_cart(
    platform: EmbeddedPlatform, shopper: Shopper
) -> None:
    http, api = shopper.client, shopper.api
    first = (await http.get(f"{api}/products", params={"limit": 20})).json()
    assert len(first["items"]) == 20 and first["next_cursor"]
    second = (
        await http.get(f"{api}/products", params={"limit": 20, "cursor": first["next_cursor"]})
    ).json()
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert len(seen) == len(set(seen)) >= 30  # the demo catalog, no duplicates across pages

    mugs = (await http.get(f"{api}/products", params={"q": "mug"})).json()["items"]
    assert mugs and all("mug" in item["name"].lower() for item in mugs)
    tree = (await http.get(f"{api}/categories")).json()
    kitchen = next(node for node in tree["items"] if node["slug"] == "kitchen")
    in_kitchen = (
        await http.get(f"{api}/products", params={"category": kitchen["id"], "limit": 100})
    ).json()
    assert {item["id"] for item in mugs} <= {item["id"] for item in in_kitchen["items"]}
    cheap = (await http.get(f"{api}/products", params={"max_price": 1000, "sort": "price"})).json()[
        "items"
    ]
    assert [i["price"]["amount"] for i in cheap] == sorted(i["price"]["amount"] for i in cheap)
    assert all(i["price"]["amount"] <= 1000 for i in cheap)

    mug = (await http.get(f"{api}/products/{mugs[0]['id']}")).json()
    assert mug["description"] and mug["images"]

    added = await http.post(f"{api}/cart/items", json={"product_id": mug["id"], "quantity": 1})
    assert added.status_code in (200, 201), added.text
    cart_id = added.headers["x-cart-id"]
    anon = {"x-cart-id": cart_id}
    changed = await http.patch(f"{api}/cart/items/{mug['id']}", json={"quantity": 3}, headers=anon)
    assert changed.status_code == 200 and changed.json()["lines"][0]["quantity"] == 3
    assert changed.json()["subtotal"]["amount"] == 3 * mug["price"]["amount"]

    removed = await http.delete(f"{api}/cart/items/{mug['id']}", headers=anon)
    assert removed.status_code == 200 and removed.json()["lines"] == []
    listed = (await http.get(f"{api}/cart/removed", headers=anon)).json()
    assert [line["product_id"] for line in listed["items"]] == [mug["id"]]
    restored = await http.post(f"{api}/cart/restore", json={}, headers=anon)
    assert restored.status_code == 200 and restored.json()["lines"][0]["quantity"] == 3

    # signing in with the anonymous cart id merges it into the shopper's own cart
    assert platform.demo is not None
    token = shopper.bearer(
        await shopper.tokens(platform.demo.shopper_email, platform.demo.shopper_password)
    )
    mine = await http.get(f"{api}/cart", headers={**token, **anon})
    assert mine.status_code == 200 and mine.json()["lines"][0]["product_id"] == mug["id"]
    assert (await http.get(f"{api}/cart", headers=token)).json()["lines"][0]["quantity"] == 3

    stale = await http.post(
        f"{api}/cart/items",
        json={"product_id": mug["id"], "quantity": 1},
        headers={**token, "if-match": '"not-the-etag"'},
    )
    assert stale.status_code == 412


async def test_bad_shop_input_is_refused_and_changes_nothing(
    platform: EmbeddedPlatform, shopper: Shopper
) -> None:
    assert platform.demo is not None
    admin = shopper.bearer(
        await shopper.tokens(platform.demo.admin_email, platform.demo.admin_password)
    )
    http, api = shopper.client, shopper.api
    before = (await http.get(f"{api}/products", params={"limit": 100})).json()
    bad_products = [
        {"name": "X", "sku": "X-1", "price": {"amount": -5, "currency": "EUR"}},
        {
            "name": "X",
            "sku": "X-2",
            "price": {"amount": 100, "currency": "EUR"},
            "category_ids": ["0" * 8],
        },
        {"name": "X", "sku": "X-3", "price": {"amount": 10**15, "currency": "EUR"}},
    ]
    for body in bad_products:
        answer = await http.post(f"{api}/products", json=body, headers=admin)
        assert (
            answer.status_code == 422
            and answer.headers["content-type"] == "application/problem+json"
        ), answer.text
    for params in (
        {"cursor": "not-a-cursor"},
        {"limit": 0},
        {"min_price": -1},
        {"sort": "sideways"},
    ):
        answer = await http.get(f"{api}/products", params=params)
        assert (
            400 <= answer.status_code < 500
            and answer.headers["content-type"] == "application/problem+json"
        )
    literal = await http.get(f"{api}/products", params={"q": "%' OR 1=1 --"})
    assert literal.status_code == 200 and literal.json()["items"] == []
    some = before["items"][0]["id"]
    for quantity in (0, 10**9, -1):
        answer = await http.post(
            f"{api}/cart/items", json={"product_id": some, "quantity": quantity}
        )
        assert answer.status_code == 422, answer.text
    huge = await http.post(
        f"{api}/products/{some}/images",
        headers=admin,
        files={"file": ("big.png", b"\x89PNG" + b"0" * (6 * 1024 * 1024), "image/png")},
    )
    assert huge.status_code == 413
    not_image = await http.post(
        f"{api}/products/{some}/images",
        headers=admin,
        files={"file": ("a.png", b"hello", "image/png")},
    )
    assert not_image.status_code == 415
    after = (await http.get(f"{api}/products", params={"limit": 100})).json()
    assert after == before
