"""What one shopper may hold open (issue 12, hole 8): one open order per version of the
cart, and at most `max_unpaid_orders` orders awaiting payment, under races too."""

from __future__ import annotations

import asyncio

from tests.integration.orders.conftest import SHOP, Checkout
from tests.support.http import shop_api
from tests.support.problems import assert_problem


async def test_parallel_placings_of_one_cart_make_one_order(checkout: Checkout) -> None:
    mug = await checkout.product(stock=10)
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 2})

    answers = await asyncio.gather(*(checkout.place(shopper) for _ in range(8)))

    placed = [a.json()["id"] for a in answers if a.status_code == 201]
    assert len(placed) == 1, [a.status_code for a in answers]
    for refused in (a for a in answers if a.status_code != 201):
        problem = assert_problem(refused, 409)
        assert problem["type"].endswith("/cart-already-ordered") and problem["order_id"] in placed
    assert (await checkout.stock(mug))["reserved"] == 2


async def test_the_cap_on_unpaid_orders_holds_under_a_race(checkout: Checkout) -> None:
    checkout.service.max_unpaid_orders = 3
    checkout.cart.changing = True  # every placing reads another version of the cart
    mug = await checkout.product(stock=50)
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 1})

    answers = await asyncio.gather(*(checkout.place(shopper) for _ in range(10)))

    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 7
    for refused in (a for a in answers if a.status_code == 409):
        problem = assert_problem(refused, 409)
        assert problem["type"].endswith("/too-many-unpaid-orders") and problem["limit"] == 3
    assert (await checkout.stock(mug))["reserved"] == 3


async def test_an_ended_order_frees_its_cart_and_its_place(checkout: Checkout) -> None:
    checkout.service.max_unpaid_orders = 1
    mug = await checkout.product(stock=10)
    shopper = checkout.user()
    order = await checkout.placed(shopper, {mug: 1})
    assert (await checkout.place(shopper)).status_code == 409  # same cart, and the cap

    assert (await checkout.cancel(shopper, order["id"])).status_code == 200
    again = await checkout.place(shopper)  # the same version of the cart, now free
    assert again.status_code == 201, again.text


async def test_a_placing_refused_for_stock_leaves_the_cart_free(checkout: Checkout) -> None:
    mug = await checkout.product(stock=1)
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 2})
    short = assert_problem(await checkout.place(shopper), 409)
    assert short["type"].endswith("/out-of-stock")

    await checkout.catalog_admin("PUT", f"/products/{mug}/stock", json={"on_hand": 5})
    placed = await checkout.place(shopper)
    assert placed.status_code == 201, placed.text


async def test_paid_orders_do_not_count(checkout: Checkout) -> None:
    checkout.service.max_unpaid_orders = 1
    mug = await checkout.product(stock=10)
    shopper = checkout.user()
    await checkout.paid(await checkout.placed(shopper, {mug: 1}))
    second = await checkout.placed(shopper, {mug: 1})
    mine = await checkout.http.get(shop_api(SHOP, "/orders"), headers=shopper)
    assert len(mine.json()["items"]) == 2 and mine.json()["items"][0]["id"] == second["id"]
