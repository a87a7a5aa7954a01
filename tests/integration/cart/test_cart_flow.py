"""The cart as a shopper uses it: anonymous and signed in, lines, removed lines, restore."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import FastAPI

from shopfleet.cart.checkout import remember_order_lines
from shopfleet.kit.blocks import Blocks
from tests.integration.cart.conftest import (
    SHOP,
    CartClient,
    FakeCatalog,
    user_id,
)
from tests.support.clock import FakeClock
from tests.support.problems import assert_problem

Tab = Callable[..., CartClient]


async def test_anonymous_cart_gets_an_id_on_first_write_and_keeps_it(
    tab: Tab, catalog: FakeCatalog
) -> None:
    mug = catalog.add("Mug", price=1250)
    anon = tab()

    empty = await anon.get()
    assert empty.status_code == 200
    assert empty.json()["lines"] == [] and empty.json()["subtotal"] is None
    assert "etag" not in empty.headers and "x-cart-id" not in empty.headers
    assert catalog.lookups == []  # nothing to price

    added = await anon.add(mug, 2)
    assert added.status_code == 200, added.text
    cart_id = added.headers["x-cart-id"]
    assert uuid.UUID(cart_id).version == 4
    assert added.headers["etag"].startswith('"')
    body = added.json()
    assert body["owner"] == "anonymous" and body["cart_id"] == cart_id
    [line] = body["lines"]
    assert line["name"] == "Mug" and line["quantity"] == 2
    assert line["unit_price"] == {"amount": 1250, "currency": "EUR"}
    assert line["line_total"] == {"amount": 2500, "currency": "EUR"}
    assert body["subtotal"] == {"amount": 2500, "currency": "EUR"}
    assert body["item_count"] == 2 and body["ready_for_checkout"] is True
    assert body["expires_at"] is not None

    again = await anon.add(mug, 3)  # the same id: the same cart, the same line
    assert again.headers["x-cart-id"] == cart_id
    assert [line["quantity"] for line in again.json()["lines"]] == [5]

    read = await anon.get()
    assert read.headers["x-cart-id"] == cart_id
    assert read.headers["etag"] == again.headers["etag"]
    assert read.headers["cache-control"] == "no-store"

    # Another browser without the id has its own (empty) cart.
    assert (await tab().get()).json()["lines"] == []


async def test_get_prices_all_lines_with_one_catalog_call(tab: Tab, catalog: FakeCatalog) -> None:
    ids = [catalog.add(f"Item {n}") for n in range(5)]
    me = tab(user=user_id())
    for product_id in ids:
        assert (await me.add(product_id)).status_code == 200
    catalog.lookups.clear()
    response = await me.get()
    assert len(response.json()["lines"]) == 5
    assert len(catalog.lookups) == 1 and sorted(catalog.lookups[0][1]) == sorted(ids)


async def test_anonymous_cart_merges_into_the_users_cart_at_login(
    tab: Tab, catalog: FakeCatalog
) -> None:
    mug, tea, pen, cup = (catalog.add(name) for name in ("Mug", "Tea", "Pen", "Cup"))
    anon = tab()
    await anon.add(mug, 2)
    await anon.add(tea, 1)
    await anon.add(cup, 1)
    await anon.remove(cup)  # a removed line comes along too
    cart_id = anon.cart_id
    assert cart_id

    user = user_id()
    me = tab(user=user)
    await me.add(mug, 98)
    await me.add(pen, 1)

    me.cart_id = cart_id  # the first request after logging in still sends X-Cart-Id
    merged = await me.get()
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["owner"] == "user" and body["cart_id"] is None
    assert body["merged_cart_id"] == cart_id
    assert "x-cart-id" not in merged.headers
    assert {line["product_id"]: line["quantity"] for line in body["lines"]} == {
        mug: 99,  # 98 + 2, capped at the line limit
        pen: 1,
        tea: 1,
    }
    removed = (await me.removed()).json()["items"]
    assert [item["product_id"] for item in removed] == [cup]

    # The anonymous cart is gone; sending its id again merges nothing.
    assert (await tab(cart_id=cart_id).get()).json()["lines"] == []
    again = await me.get()
    assert again.json()["merged_cart_id"] is None
    assert again.headers["etag"] == merged.headers["etag"]

    # The user's cart follows the user, without the header.
    assert await tab(user=user).quantities() == {mug: 99, pen: 1, tea: 1}


async def test_merge_happens_in_the_same_write_as_a_change(tab: Tab, catalog: FakeCatalog) -> None:
    mug, tea = catalog.add("Mug"), catalog.add("Tea")
    anon = tab()
    await anon.add(mug, 1)
    me = tab(user=user_id(), cart_id=anon.cart_id)
    response = await me.add(tea, 2)  # a signed-in write with the anonymous id: merge + add
    assert response.json()["merged_cart_id"] == anon.cart_id
    assert await me.quantities() == {mug: 1, tea: 2}
    assert (await tab(cart_id=anon.cart_id).get()).json()["lines"] == []


async def test_update_remove_clear_and_restore(tab: Tab, catalog: FakeCatalog) -> None:
    mug, tea, pen = catalog.add("Mug"), catalog.add("Tea"), catalog.add("Pen")
    me = tab(user=user_id())
    for product_id in (mug, tea, pen):
        await me.add(product_id, 1)

    patched = await me.set(mug, 7)
    assert patched.status_code == 200
    assert await me.quantities() == {mug: 7, tea: 1, pen: 1}

    removed = await me.remove(tea)
    assert removed.status_code == 200 and removed.headers["etag"]
    assert [line["product_id"] for line in removed.json()["lines"]] == [mug, pen]
    listed = (await me.removed()).json()["items"]
    assert [(item["product_id"], item["quantity"], item["name"]) for item in listed] == [
        (tea, 1, "Tea")
    ]
    assert listed[0]["restorable_until"] > listed[0]["removed_at"]
    assert_problem(await me.remove(tea), 404, "path.product_id")

    cleared = await me.clear()
    assert cleared.status_code == 200 and cleared.json()["lines"] == []
    assert cleared.headers["etag"]
    listed = (await me.removed()).json()["items"]
    assert [item["product_id"] for item in listed] == [mug, pen, tea]  # newest first

    one = await me.restore({"product_ids": [pen]})
    assert one.status_code == 200, one.text
    assert await me.quantities() == {pen: 1}
    assert_problem(await me.restore({"product_ids": [pen]}), 404, "body.product_ids")

    await me.add(mug, 2)  # restoring adds to the line that is already there
    everything = await me.restore()  # no body: every removed line
    assert everything.status_code == 200, everything.text
    assert await me.quantities() == {pen: 1, mug: 9, tea: 1}
    assert (await me.removed()).json()["items"] == []


async def test_lines_say_when_price_stock_or_availability_changed(
    tab: Tab, catalog: FakeCatalog
) -> None:
    mug = catalog.add("Mug", price=1000, available=10)
    tea = catalog.add("Tea", price=500, available=10)
    pen = catalog.add("Pen", price=200, available=10)
    cup = catalog.add("Cup", price=300, available=10)
    hat = catalog.add("Hat", price=900, available=10)
    me = tab(user=user_id())
    await me.add(mug, 2)
    await me.add(tea, 3)
    await me.add(pen, 1)
    await me.add(cup, 1)
    await me.add(hat, 1)

    catalog.change(mug, price=1200)  # price up
    catalog.change(tea, available=2)  # fewer than in the cart
    catalog.change(pen, available=0)  # none left
    catalog.delete(cup)  # gone
    catalog.change(hat, active=False)  # deactivated

    body = (await me.get()).json()
    lines = {line["product_id"]: line for line in body["lines"]}
    assert lines[mug]["price_changed"] is True
    assert lines[mug]["price_when_added"] == {"amount": 1000, "currency": "EUR"}
    assert lines[mug]["unit_price"] == {"amount": 1200, "currency": "EUR"}
    assert lines[mug]["line_total"] == {"amount": 2400, "currency": "EUR"}
    assert lines[tea]["insufficient_stock"] is True and lines[tea]["available"] == 2
    assert lines[tea]["out_of_stock"] is False
    assert lines[pen]["out_of_stock"] is True and lines[pen]["available"] == 0
    assert lines[cup]["unavailable"] is True and lines[cup]["name"] is None
    assert lines[cup]["line_total"] is None
    assert lines[hat]["unavailable"] is True and lines[hat]["name"] == "Hat"
    flagged = ("price_changed", "out_of_stock", "insufficient_stock", "unavailable")
    assert not any(lines[mug][flag] for flag in flagged[1:])
    # Only the line that can be ordered as it is counts; the cart is not ready.
    assert body["subtotal"] == {"amount": 2400, "currency": "EUR"}
    assert body["item_count"] == 8 and body["ready_for_checkout"] is False

    # Adding again is at today's price: the flag clears.
    await me.add(mug, 1)
    line = next(x for x in (await me.get()).json()["lines"] if x["product_id"] == mug)
    assert line["price_changed"] is False and line["quantity"] == 3


async def test_stock_and_limits_are_checked_on_writes(tab: Tab, catalog: FakeCatalog) -> None:
    mug = catalog.add("Mug", available=5)
    me = tab(user=user_id())
    await me.add(mug, 4)
    over = assert_problem(await me.add(mug, 2), 409, "body.quantity")
    assert over["available"] == 5 and over["in_cart"] == 4
    assert assert_problem(await me.set(mug, 6), 409, "body.quantity")["available"] == 5
    assert await me.quantities() == {mug: 4}

    catalog.change(mug, available=0)
    assert "out of stock" in assert_problem(await me.add(mug, 1), 409)["detail"]

    big = catalog.add("Big", available=1000)
    await me.add(big, 99)
    limit = assert_problem(await me.add(big, 1), 409, "body.quantity")
    assert limit["type"].endswith("/line-quantity-limit")

    catalog.delete(mug)
    assert_problem(await me.set(mug, 1), 409, "path.product_id")
    unknown = assert_problem(await me.add(str(uuid.uuid4())), 422, "body.product_id")
    assert "not for sale" in unknown["detail"]
    inactive = catalog.add("Old", active=False)
    assert_problem(await me.add(inactive), 422, "body.product_id")
    assert_problem(await me.set(str(uuid.uuid4()), 1), 404, "path.product_id")


async def test_at_most_50_lines(tab: Tab, catalog: FakeCatalog) -> None:
    me = tab(user=user_id())
    for n in range(50):
        assert (await me.add(catalog.add(f"P{n}"))).status_code == 200
    full = assert_problem(await me.add(catalog.add("One too many")), 409, "body.product_id")
    assert full["type"].endswith("/cart-full")
    assert len(await me.quantities()) == 50


async def test_cancelled_order_lines_go_back_into_the_cart(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug, tea = catalog.add("Mug", price=1000), catalog.add("Tea", price=400)
    user = user_id()
    me = tab(user=user)
    await me.add(mug, 1)
    order_id = str(uuid.uuid4())
    await remember_order_lines(
        blocks.state,
        SHOP,
        user,
        order_id,
        [
            {"product_id": mug, "quantity": 2, "unit_price": {"amount": 900, "currency": "EUR"}},
            {"product_id": tea, "quantity": 3},
        ],
    )

    assert_problem(await tab().restore({"order_id": order_id}), 401)
    assert_problem(await tab(user=user_id()).restore({"order_id": order_id}), 404)  # not theirs

    restored = await me.restore({"order_id": order_id})
    assert restored.status_code == 200, restored.text
    lines = {line["product_id"]: line for line in restored.json()["lines"]}
    assert lines[mug]["quantity"] == 3 and lines[tea]["quantity"] == 3
    assert lines[tea]["price_changed"] is False

    again = assert_problem(await me.restore({"order_id": order_id}), 404, "body.order_id")
    assert again["type"].endswith("/order-lines-not-found")
    assert_problem(await me.restore({"order_id": "no-such-order"}), 404, "body.order_id")
    assert await me.quantities() == {mug: 3, tea: 3}


async def test_order_lines_that_do_not_fit_wait_among_the_removed_lines(
    tab: Tab, catalog: FakeCatalog, cart_app: FastAPI
) -> None:
    user = user_id()
    me = tab(user=user)
    for n in range(50):
        await me.add(catalog.add(f"P{n}"))
    extra = catalog.add("Extra")
    order_id = str(uuid.uuid4())
    carts = cart_app.state.carts  # as the cart's own order-cancelled handler will call it
    await carts.remember_order_lines(SHOP, user, order_id, [{"product_id": extra, "quantity": 1}])
    assert (await me.restore({"order_id": order_id})).status_code == 200
    assert extra not in await me.quantities()
    removed = (await me.removed()).json()["items"]
    assert [item["product_id"] for item in removed] == [extra]


async def test_order_lines_can_be_restored_for_30_days(
    tab: Tab, catalog: FakeCatalog, cart_app: FastAPI, clock: FakeClock
) -> None:
    mug = catalog.add("Mug")
    user = user_id()
    carts = cart_app.state.carts
    await carts.remember_order_lines(SHOP, user, "late", [{"product_id": mug, "quantity": 1}])
    await carts.remember_order_lines(SHOP, user, "soon", [{"product_id": mug, "quantity": 1}])
    clock.advance(29 * 86_400)
    assert (await tab(user=user).restore({"order_id": "soon"})).status_code == 200
    clock.advance(2 * 86_400)
    assert_problem(await tab(user=user).restore({"order_id": "late"}), 404, "body.order_id")
