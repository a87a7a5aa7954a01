"""Issue 12, hole 8: one cart must not become many orders, and a shopper must not hold a
shop's stock with unpaid orders without limit."""

from __future__ import annotations

import asyncio

import httpx

from tests.security.checkout_kit import (
    add_to_cart,
    available,
    new_product,
    new_shopper,
    order_body,
    place,
    shop_admin,
)
from tests.security.conftest import Target
from tests.support.problems import assert_problem


async def test_parallel_orders_from_one_cart_make_one_order(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 8: 10 parallel POST /orders with different Idempotency-Keys on one
    cart place one order and reserve its units once; the others get a 409 that names it
    (or, once that order has emptied the cart, a 409 that says the cart is empty)."""
    admin, shopper = await shop_admin(target, client), await new_shopper(client)
    product = await new_product(admin, stock=10)
    await add_to_cart(shopper, product, 1)
    body = await order_body(shopper)

    answers = await asyncio.gather(*(place(shopper, body) for _ in range(10)))

    placed = [a for a in answers if a.status_code == 201]
    assert len(placed) == 1, [a.status_code for a in answers]
    order_id = placed[0].json()["id"]
    for refused in (a for a in answers if a.status_code != 201):
        problem = assert_problem(refused, 409)
        # A request that read the cart after the placed order emptied it (cart consumes
        # order.placed) finds nothing to order: also a refusal, and nothing is placed twice.
        if problem["type"].endswith("/cart-empty"):
            continue
        assert problem["type"].endswith("/cart-already-ordered"), problem
        assert problem["order_id"] == order_id and order_id in problem["detail"], problem
    mine = await shopper.ok("GET", "/orders")
    assert [o["id"] for o in mine["items"]] == [order_id]
    assert await available(admin, product) == 9


async def test_a_shopper_cannot_hold_stock_with_unlimited_unpaid_orders(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 8: past the cap of unpaid orders (3 by default) a shopper is told to
    pay or cancel one (409 problem) and nothing more is reserved; a cancel makes room."""
    admin, shopper = await shop_admin(target, client), await new_shopper(client)
    product = await new_product(admin, stock=100)
    body = await order_body(shopper)
    opened = []
    for _ in range(3):
        await add_to_cart(shopper, product, 1)  # a new cart version each time
        answer = await place(shopper, body)
        assert answer.status_code == 201, answer.text
        opened.append(answer.json()["id"])
    held = await available(admin, product)

    await add_to_cart(shopper, product, 1)
    refused = await place(shopper, body)

    problem = assert_problem(refused, 409)
    assert problem["type"].endswith("/too-many-unpaid-orders"), problem
    assert "pay or cancel" in problem["detail"].lower(), problem
    assert sorted(problem["open_orders"]) == sorted(opened), problem
    assert await available(admin, product) == held
    await shopper.ok("POST", f"/orders/{opened[0]}/cancel")
    again = await place(shopper, body)
    assert again.status_code == 201, again.text
