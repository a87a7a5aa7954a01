"""Validation, TTLs, catalog outages and isolation between shoppers and shops."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from shopfleet.kit.blocks import Blocks
from tests.integration.cart.conftest import (
    OTHER_SHOP,
    SHOP,
    CartClient,
    FakeCatalog,
    user_id,
)
from tests.support.clock import FakeClock
from tests.support.problems import assert_problem

Tab = Callable[..., CartClient]
DAY = 86_400


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("quantity", [0, -1, 10**9, 100, "two", "3", None, 1.5, True, [1]])
async def test_bad_quantities_are_422_naming_the_field(
    tab: Tab, catalog: FakeCatalog, quantity: object
) -> None:
    mug = catalog.add("Mug")
    me = tab()
    body = {"product_id": mug, "quantity": quantity}
    response = await me.call("POST", "/cart/items", json=body)
    assert_problem(response, 422, "body.quantity")
    await me.add(mug)
    patched = await me.call("PATCH", f"/cart/items/{mug}", json={"quantity": quantity})
    assert_problem(patched, 422, "body.quantity")
    assert await me.quantities() == {mug: 1}


async def test_patch_to_zero_points_to_delete(tab: Tab, catalog: FakeCatalog) -> None:
    mug = catalog.add("Mug")
    me = tab()
    await me.add(mug)
    body = assert_problem(await me.set(mug, 0), 422, "body.quantity")
    assert "DELETE" in body["detail"]


async def test_bad_input_is_422_naming_the_field(tab: Tab, catalog: FakeCatalog) -> None:
    me = tab()
    mug = catalog.add("Mug")
    cases = [
        (me.call("POST", "/cart/items", json={"product_id": "Robert'); DROP"}), "body.product_id"),
        (me.call("POST", "/cart/items", json={"product_id": "x" * 37}), "body.product_id"),
        (me.call("POST", "/cart/items", json={"quantity": 1}), "body.product_id"),
        (me.call("POST", "/cart/items", json={"product_id": mug, "price": 1}), "body.price"),
        (me.call("PATCH", "/cart/items/NOT_AN_ID", json={"quantity": 1}), "path.product_id"),
        (me.call("DELETE", "/cart/items/%00"), "path.product_id"),
        (me.call("POST", "/cart/restore", json={"product_ids": []}), "body.product_ids"),
        (me.call("POST", "/cart/restore", json={"product_ids": ["bad id"]}), "body.product_ids.0"),
        (me.call("POST", "/cart/restore", json={"order_id": "a/b"}), "body.order_id"),
        (me.call("POST", "/cart/restore", json={"order_id": "x", "product_ids": [mug]}), "body"),
        (me.call("POST", "/cart/restore", json={"product_ids": [mug, mug]}), "body"),
        (me.get(headers={"X-Cart-Id": "not-a-uuid"}), "header.X-Cart-Id"),
        (me.add(mug, headers={"X-Cart-Id": str(uuid.uuid1())}), "header.X-Cart-Id"),
    ]
    for call, field in cases:
        assert_problem(await call, 422, field)
    assert (await me.get()).json()["lines"] == []


async def test_invalid_json_is_a_422(tab: Tab) -> None:
    response = await tab().call(
        "POST", "/cart/items", content=b"{nope", headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422)
    assert "JSON" in body["detail"]


# ----------------------------------------------------------------------------- TTLs


async def test_anonymous_carts_expire_and_writes_refresh_the_ttl(
    tab: Tab, catalog: FakeCatalog, clock: FakeClock
) -> None:
    mug = catalog.add("Mug")
    kept, abandoned = tab(), tab()
    await kept.add(mug)
    await abandoned.add(mug)
    clock.advance(6 * DAY)
    await kept.add(mug)  # refreshed: 7 more days from now
    clock.advance(2 * DAY)
    assert await kept.quantities() == {mug: 2}
    assert await abandoned.quantities() == {}  # 8 days without a write


async def test_user_carts_live_longer(tab: Tab, catalog: FakeCatalog, clock: FakeClock) -> None:
    mug = catalog.add("Mug")
    user = user_id()
    await tab(user=user).add(mug)
    clock.advance(89 * DAY)
    assert await tab(user=user).quantities() == {mug: 1}
    clock.advance(2 * DAY)
    assert await tab(user=user).quantities() == {}


async def test_removed_lines_expire(tab: Tab, catalog: FakeCatalog, clock: FakeClock) -> None:
    mug, tea = catalog.add("Mug"), catalog.add("Tea")
    me = tab(user=user_id())
    await me.add(mug)
    await me.add(tea)
    await me.remove(mug)
    clock.advance(4 * DAY)
    await me.remove(tea)  # refreshes the list; mug still ages from its own removal
    clock.advance(4 * DAY)
    assert [item["product_id"] for item in (await me.removed()).json()["items"]] == [tea]
    assert_problem(await me.restore({"product_ids": [mug]}), 404, "body.product_ids")
    clock.advance(4 * DAY)
    assert (await me.removed()).json()["items"] == []


# ----------------------------------------------------------------------------- catalog down


async def test_catalog_down_is_a_503_and_nothing_changes(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug, tea = catalog.add("Mug"), catalog.add("Tea")
    me = tab(user=user_id())
    await me.add(mug)
    etag = me.etag
    assert etag

    invoker = blocks.invoker
    invoker.unregister("catalog")  # type: ignore[attr-defined]
    for call in (me.get(), me.add(tea), me.set(mug, 2), me.remove(mug)):
        body = assert_problem(await call, 503)
        assert body["type"].endswith("/catalog-unavailable")
        assert "cannot be checked" in body["detail"]

    catalog.status = 500  # up again, but broken
    invoker.register("catalog", catalog.app)  # type: ignore[attr-defined]
    assert_problem(await me.get(), 503)

    catalog.status = 200
    read = await me.get()
    assert read.headers["etag"] == etag
    assert await me.quantities() == {mug: 1}


async def test_an_empty_cart_and_clearing_need_no_catalog(
    tab: Tab, catalog: FakeCatalog, blocks: Blocks
) -> None:
    mug = catalog.add("Mug")
    me = tab()
    await me.add(mug)
    blocks.invoker.unregister("catalog")  # type: ignore[attr-defined]
    assert (await tab().get()).status_code == 200
    assert (await me.clear()).status_code == 200


# ----------------------------------------------------------------------------- isolation


async def test_carts_are_private_to_their_user_and_shop(tab: Tab, catalog: FakeCatalog) -> None:
    mug = catalog.add("Mug")
    acme_mug = catalog.add("Acme mug", shop=OTHER_SHOP)
    alice, bob = user_id(), user_id()
    await tab(user=alice).add(mug, 3)

    assert await tab(user=bob).quantities() == {}
    # Alice's token in another shop: 404, nothing of that shop is reachable with it.
    assert_problem(await tab(user=alice, shop=OTHER_SHOP, token_shop=SHOP).get(), 404)
    # Alice in the other shop has another cart; the demo shop's product is unknown there.
    acme = tab(user=alice, shop=OTHER_SHOP)
    assert await acme.quantities() == {}
    assert_problem(await acme.add(mug), 422, "body.product_id")
    assert (await acme.add(acme_mug)).status_code == 200
    assert await tab(user=alice).quantities() == {mug: 3}

    # An anonymous id cannot reach a user's cart, even one that looks like the user id.
    assert (await tab(cart_id=alice).get()).json()["lines"] == []
    # Anonymous ids are per shop.
    anon = tab()
    await anon.add(mug)
    assert (await tab(cart_id=anon.cart_id, shop=OTHER_SHOP).get()).json()["lines"] == []
    # Bob sending Alice's... nothing: signed-in requests only ever merge anonymous carts.
    assert await tab(user=bob, cart_id=str(uuid.uuid4())).quantities() == {}


async def test_openapi_documents_the_cart_headers(cart_app: FastAPI) -> None:
    spec = cart_app.openapi()
    get = spec["paths"]["/shops/{shop}/api/v1/cart"]["get"]
    assert {"ETag", "X-Cart-Id"} <= set(get["responses"]["200"]["headers"])
    post = spec["paths"]["/shops/{shop}/api/v1/cart/items"]["post"]
    names = {param["name"] for param in post["parameters"]}
    assert {"X-Cart-Id", "If-Match"} <= names


async def test_health(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).status_code == 200
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == ["state"]
