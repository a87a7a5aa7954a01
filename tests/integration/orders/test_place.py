"""Placing an order from the cart: prices from catalog, stock reserved, shipping quoted."""

from __future__ import annotations

import pytest

from shopfleet.kit.blocks import Delivery
from tests.integration.orders.conftest import (
    ADDRESS,
    FRENCH_ADDRESS,
    SHOP,
    Checkout,
    shipping_cost,
)
from tests.support.http import shop_api
from tests.support.problems import assert_problem


async def test_an_order_snapshots_catalog_prices_and_reserves_stock(checkout: Checkout) -> None:
    mug = await checkout.product(price=1250, stock=5, name="Mug")
    tea = await checkout.product(price=499, stock=3, name="Tea")
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 2, tea: 1})

    response = await checkout.place(shopper)

    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"].endswith(f"/orders/{order['id']}")
    assert order["status"] == "pending_payment"
    assert order["user_id"] == checkout.sub(shopper)
    lines = {line["product_id"]: line for line in order["lines"]}
    assert lines[mug]["name"] == "Mug" and lines[mug]["quantity"] == 2
    assert lines[mug]["unit_price"] == {"amount": 1250, "currency": "EUR"}
    assert lines[mug]["line_total"] == {"amount": 2500, "currency": "EUR"}
    assert lines[tea]["sku"].startswith("SKU-")
    assert order["subtotal"] == {"amount": 2999, "currency": "EUR"}
    assert order["shipping"] == {"amount": shipping_cost("standard", 3), "currency": "EUR"}
    assert order["total"]["amount"] == 2999 + shipping_cost("standard", 3)
    assert order["shipping_method"]["method_name"] == "Standard"
    assert order["shipping_address"]["city"] == "London"
    assert order["expires_at"] is not None
    assert [(h["status"], h["previous"], h["cause"]) for h in order["history"]] == [
        ("pending_payment", None, "placed")
    ]
    assert (await checkout.stock(mug))["reserved"] == 2
    assert (await checkout.stock(tea))["available"] == 2

    (placed,) = await checkout.relayed("order.placed", order["id"])
    assert placed["total"] == order["total"] and len(placed["lines"]) == 2
    (changed,) = await checkout.relayed("order.status_changed", order["id"])
    assert changed["status"] == "pending_payment" and changed["previous"] is None


async def test_a_saved_address_is_resolved_by_shipping(checkout: Checkout) -> None:
    mug = await checkout.product()
    shopper = checkout.user()
    address_id = checkout.shipping.save(checkout.sub(shopper), FRENCH_ADDRESS)
    order = await checkout.placed(shopper, {mug: 1}, address_id=address_id)
    assert order["shipping_address"]["country"] == "FR"

    someone_else = checkout.user()
    checkout.fill(someone_else, {mug: 1})
    response = await checkout.place(someone_else, address_id=address_id)
    assert_problem(response, 422, "shipping_address_id")


async def test_prices_come_from_catalog_never_the_client(checkout: Checkout) -> None:
    mug = await checkout.product(price=1000)
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 1})
    body = {
        "shipping_method": "standard",
        "shipping_address": ADDRESS,
        "lines": [{"product_id": mug, "quantity": 1, "unit_price": 1}],
    }
    response = await checkout.http.post(shop_api(SHOP, "/orders"), headers=shopper, json=body)
    assert_problem(response, 422, "body.lines")

    await checkout.catalog_admin("PUT", f"/products/{mug}/price", json={"amount": 1500})
    order = await checkout.placed(shopper, {mug: 1})
    assert order["subtotal"]["amount"] == 1500


async def test_an_empty_cart_cannot_be_ordered(checkout: Checkout) -> None:
    response = await checkout.place(checkout.user())
    body = assert_problem(response, 409)
    assert body["type"].endswith("/cart-empty")


async def test_inactive_and_deleted_products_are_named(checkout: Checkout) -> None:
    mug = await checkout.product(name="Mug")
    old = await checkout.product(name="Old Lamp")
    gone = await checkout.product(name="Gone Vase")
    await checkout.catalog_admin("PATCH", f"/products/{old}", json={"active": False})
    await checkout.catalog_admin("DELETE", f"/products/{gone}")
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 1, old: 1, gone: 1})

    body = assert_problem(await checkout.place(shopper), 409)

    assert body["type"].endswith("/products-unavailable")
    assert {p["product_id"] for p in body["products"]} == {old, gone}
    assert "Old Lamp" in body["detail"] and "Gone Vase" in body["detail"]
    assert (await checkout.stock(mug))["reserved"] == 0


async def test_a_shortage_lists_each_short_line_and_reserves_nothing(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5, name="Mug")
    tea = await checkout.product(stock=1, name="Tea")
    cup = await checkout.product(stock=0, name="Cup")
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 2, tea: 3, cup: 1})

    body = assert_problem(await checkout.place(shopper), 409)

    assert body["type"].endswith("/out-of-stock")
    short = {s["product_id"]: (s["requested"], s["available"]) for s in body["shortages"]}
    assert short == {tea: (3, 1), cup: (1, 0)}
    assert (await checkout.stock(mug))["reserved"] == 0
    listing = await checkout.http.get(shop_api(SHOP, "/orders"), headers=shopper)
    assert listing.json()["items"] == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # no database at stake
async def test_unknown_method_and_unserved_country_are_422(checkout: Checkout) -> None:
    mug = await checkout.product()
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 1})
    assert_problem(await checkout.place(shopper, method="pigeon"), 422, "shipping_method")
    body = assert_problem(
        await checkout.place(shopper, method="express", address=FRENCH_ADDRESS),
        422,
        "shipping_method",
    )
    assert "FR" in body["detail"]
    assert (await checkout.stock(mug))["reserved"] == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # no database at stake
async def test_bad_bodies_are_422_naming_the_field(checkout: Checkout) -> None:
    shopper = checkout.user()
    url = shop_api(SHOP, "/orders")
    cases = [
        ({"shipping_address": ADDRESS}, "body.shipping_method"),
        ({"shipping_method": "Not A Slug!", "shipping_address": ADDRESS}, "body.shipping_method"),
        (
            {"shipping_method": "standard", "shipping_address": ADDRESS | {"country": "XX"}},
            "body.shipping_address.country",
        ),
        (
            {"shipping_method": "standard", "shipping_address": ADDRESS | {"postal_code": ""}},
            "body.shipping_address.postal_code",
        ),
    ]
    for body, field in cases:
        assert_problem(await checkout.http.post(url, headers=shopper, json=body), 422, field)
    both = {
        "shipping_method": "standard",
        "shipping_address": ADDRESS,
        "shipping_address_id": "abc",
    }
    assert_problem(await checkout.http.post(url, headers=shopper, json=both), 422)
    neither = {"shipping_method": "standard"}
    assert_problem(await checkout.http.post(url, headers=shopper, json=neither), 422)
    response = await checkout.http.post(url, json={"shipping_method": "standard"})
    assert_problem(response, 401)


async def test_a_service_down_is_a_503_and_nothing_is_half_done(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 1})
    for app_id in ("cart", "shipping", "catalog"):
        app = checkout.invoker._apps[app_id]
        checkout.invoker.unregister(app_id)
        try:
            response = await checkout.place(shopper)
        finally:
            checkout.invoker.register(app_id, app)
        body = assert_problem(response, 503)
        assert body["type"].endswith(f"/{app_id}-unavailable")
        assert response.headers["retry-after"]
    assert (await checkout.stock(mug))["reserved"] == 0
    listing = await checkout.http.get(shop_api(SHOP, "/orders"), headers=shopper)
    assert listing.json()["items"] == []
    assert checkout.pubsub.topics("order.placed") == []
    assert (await checkout.place(shopper)).status_code == 201


async def test_redelivered_payment_changes_nothing(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    order = await checkout.placed(checkout.user(), {mug: 2})
    assert await checkout.paid(order, event_id="evt-1") == Delivery.SUCCESS
    assert await checkout.paid(order, event_id="evt-1") == Delivery.SUCCESS
    assert await checkout.paid(order, event_id="evt-2") == Delivery.SUCCESS  # same payment
    after = await checkout.order(order["id"])
    assert after["status"] == "paid"
    assert [h["status"] for h in after["history"]] == ["pending_payment", "paid"]
    stock = await checkout.stock(mug)
    assert (stock["on_hand"], stock["reserved"]) == (3, 0)
    assert len(await checkout.relayed("order.paid", order["id"])) == 1
