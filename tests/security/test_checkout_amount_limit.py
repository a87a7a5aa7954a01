"""Issue 12, hole 11: an order whose total a card payment cannot charge (Stripe refuses more
than 99,999,999 minor units for most currencies) is refused when it is placed or re-quoted,
not at payment time."""

from __future__ import annotations

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

LIMIT = {"amount": 99_999_999, "currency": "EUR"}


async def test_an_order_above_the_chargeable_limit_is_refused_when_placed(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 11: two units of a 999,990.00 EUR product are refused at placing
    time with a 409 that names the limit; nothing is reserved."""
    admin, shopper = await shop_admin(target, client), await new_shopper(client)
    product = await new_product(admin, price=99_999_000, stock=10)
    await add_to_cart(shopper, product, 2)

    refused = await place(shopper, await order_body(shopper))

    problem = assert_problem(refused, 409)
    assert problem["type"].endswith("/order-too-large"), problem
    assert problem["limit"] == LIMIT and "999999.99 EUR" in problem["detail"], problem
    assert await available(admin, product) == 10
    assert (await shopper.ok("GET", "/orders"))["items"] == []


async def test_a_change_of_shipping_cannot_push_the_total_above_the_limit(
    target: Target, client: httpx.AsyncClient
) -> None:
    """Issue 12, hole 11: PATCH /orders/{id} to a dearer method that would take the total
    past the chargeable limit is refused (409 naming the limit); the order is unchanged."""
    admin, shopper = await shop_admin(target, client), await new_shopper(client)
    product = await new_product(admin, price=99_999_000, stock=10)
    await add_to_cart(shopper, product, 1)
    placed = await place(shopper, await order_body(shopper, "standard"))  # free above 50 EUR
    assert placed.status_code == 201, placed.text
    order = placed.json()

    changed = await shopper.call(
        "PATCH", f"/orders/{order['id']}", json={"shipping_method": "express"}
    )

    problem = assert_problem(changed, 409)
    assert problem["type"].endswith("/order-too-large"), problem
    assert problem["limit"] == LIMIT and "999999.99 EUR" in problem["detail"], problem
    now = await shopper.ok("GET", f"/orders/{order['id']}")
    assert now["total"] == order["total"] and now["shipping_method"]["method_id"] == "standard"
