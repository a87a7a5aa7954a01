"""`Idempotency-Key` on POST /orders: a retry answers the order the key placed."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.orders.conftest import FRENCH_ADDRESS, SHOP, Checkout
from tests.support.http import shop_api
from tests.support.problems import assert_problem


async def _orders_of(checkout: Checkout, who: dict[str, str]) -> list[dict]:
    response = await checkout.http.get(shop_api(SHOP, "/orders"), headers=who)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_retry_with_the_same_key_returns_the_same_order(checkout: Checkout) -> None:
    mug = await checkout.product(stock=10)
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 2})

    first = await checkout.place(shopper, key="checkout-1")
    again = await checkout.place(shopper, key="checkout-1")

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["total"] == first.json()["total"]
    assert len(await _orders_of(checkout, shopper)) == 1
    assert (await checkout.stock(mug))["reserved"] == 2
    # Another key on the same cart is another request for the same order: refused.
    other = assert_problem(await checkout.place(shopper, key="checkout-2"), 409)
    assert (
        other["type"].endswith("/cart-already-ordered") and other["order_id"] == first.json()["id"]
    )
    # Once the cart changed, with another key or none, a new order is placed.
    checkout.fill(shopper, {mug: 1})
    assert (await checkout.place(shopper, key="checkout-2")).status_code == 201
    checkout.fill(shopper, {mug: 1})
    assert (await checkout.place(shopper)).status_code == 201
    assert len(await _orders_of(checkout, shopper)) == 3


async def test_the_same_key_with_another_body_is_refused(checkout: Checkout) -> None:
    mug = await checkout.product()
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 1})
    assert (await checkout.place(shopper, key="k-1")).status_code == 201
    response = await checkout.place(shopper, key="k-1", address=FRENCH_ADDRESS)
    body = assert_problem(response, 422, "Idempotency-Key")
    assert body["type"].endswith("/idempotency-key-reused")
    assert len(await _orders_of(checkout, shopper)) == 1


async def test_keys_belong_to_their_shopper(checkout: Checkout) -> None:
    mug = await checkout.product()
    ada, bob = checkout.user(), checkout.user()
    checkout.fill(ada, {mug: 1})
    checkout.fill(bob, {mug: 1})
    a = await checkout.place(ada, key="same")
    b = await checkout.place(bob, key="same")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # no database at stake
async def test_a_bad_key_is_422(checkout: Checkout) -> None:
    shopper = checkout.user()
    assert_problem(await checkout.place(shopper, key="x" * 256), 422, "header.idempotency-key")


async def test_ten_concurrent_identical_posts_place_one_order(checkout: Checkout) -> None:
    mug = await checkout.product(stock=50)
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 3})

    responses = await asyncio.gather(*(checkout.place(shopper, key="race") for _ in range(10)))

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201], [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await _orders_of(checkout, shopper)) == 1
    assert (await checkout.stock(mug))["reserved"] == 3  # one reservation
    order_id = responses[0].json()["id"]
    assert len(await checkout.relayed("order.placed", order_id)) == 1
