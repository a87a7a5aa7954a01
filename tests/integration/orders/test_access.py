"""Reading orders: own history newest first with a cursor, admins see all with filters;
the internal summary payments reads; changing address/method while unpaid."""

from __future__ import annotations

from typing import Any

import pytest

from shopfleet.kit.cursors import pack_cursor
from tests.integration.orders.conftest import FRENCH_ADDRESS, SHOP, Checkout, shipping_cost
from tests.support.problems import assert_problem


async def _list(checkout: Checkout, who: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await checkout.http.get(f"/shops/{SHOP}/api/v1/orders", headers=who, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_own_history_newest_first_page_by_page(checkout: Checkout) -> None:
    mug = await checkout.product(stock=50)
    ada, bob = checkout.user(), checkout.user()
    mine = [(await checkout.placed(ada, {mug: 1}))["id"] for _ in range(5)]
    theirs = (await checkout.placed(bob, {mug: 2}))["id"]

    seen, cursor = [], None
    while True:
        page = await _list(checkout, ada, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(mine))
    item = (await _list(checkout, bob))["items"][0]
    assert item["id"] == theirs and item["item_count"] == 2
    assert item["total"]["amount"] == 2000 + shipping_cost("standard", 2)

    # Shoppers cannot look at others' orders through the filter.
    refused = await checkout.http.get(
        f"/shops/{SHOP}/api/v1/orders", headers=ada, params={"user": checkout.sub(bob)}
    )
    assert_problem(refused, 403)
    bad = await checkout.http.get(
        f"/shops/{SHOP}/api/v1/orders", headers=ada, params={"cursor": "nonsense"}
    )
    assert_problem(bad, 400, "query.cursor")
    beyond_time = pack_cursor(["9999-12-31T23:59:59-12:00", mine[0]])  # was a 500
    bad = await checkout.http.get(
        f"/shops/{SHOP}/api/v1/orders", headers=ada, params={"cursor": beyond_time}
    )
    assert_problem(bad, 400, "query.cursor")
    bad = await checkout.http.get(
        f"/shops/{SHOP}/api/v1/orders", headers=ada, params={"status": "lost", "limit": 0}
    )
    assert_problem(bad, 422, "query.status", "query.limit")


async def test_admins_see_all_and_filter_by_status_and_user(checkout: Checkout) -> None:
    mug = await checkout.product(stock=50)
    ada, bob = checkout.user(), checkout.user()
    a1 = await checkout.placed(ada, {mug: 1})
    await checkout.placed(ada, {mug: 1})
    b1 = await checkout.placed(bob, {mug: 1})
    await checkout.paid(a1)

    everything = await _list(checkout, checkout.admin)
    assert len(everything["items"]) == 3
    assert [i["id"] for i in (await _list(checkout, checkout.admin, status="paid"))["items"]] == [
        a1["id"]
    ]
    by_bob = await _list(checkout, checkout.admin, user=checkout.sub(bob))
    assert [i["id"] for i in by_bob["items"]] == [b1["id"]]
    ada_unpaid = await _list(
        checkout, checkout.admin, user=checkout.sub(ada), status="pending_payment"
    )
    assert len(ada_unpaid["items"]) == 1
    # Another shop's admin sees none of them.
    other = checkout.mint.token(shop="bolt", roles=["Admin"], sub="admin-bolt")
    response = await checkout.http.get(
        "/shops/bolt/api/v1/orders", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 200 and response.json()["items"] == []


async def test_the_internal_summary_for_payments(checkout: Checkout) -> None:
    mug = await checkout.product()
    order = await checkout.placed(checkout.user(), {mug: 1})
    response = await checkout.http.get(f"/internal/shops/{SHOP}/orders/{order['id']}")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["order_id"] == order["id"] and summary["status"] == "pending_payment"
    assert summary["total"] == order["total"] and summary["expires_at"] is not None
    await checkout.paid(order)
    summary = (await checkout.http.get(f"/internal/shops/{SHOP}/orders/{order['id']}")).json()
    assert summary["status"] == "paid" and summary["expires_at"] is None
    missing = await checkout.http.get(f"/internal/shops/bolt/orders/{order['id']}")
    assert_problem(missing, 404)


async def test_address_and_method_change_while_unpaid(checkout: Checkout) -> None:
    mug = await checkout.product(price=1000, stock=5)
    shopper = checkout.user()
    order = await checkout.placed(shopper, {mug: 2})
    url = f"/shops/{SHOP}/api/v1/orders/{order['id']}"

    response = await checkout.http.patch(url, headers=shopper, json={"shipping_method": "express"})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["shipping"]["amount"] == shipping_cost("express", 2)
    assert changed["total"]["amount"] == 2000 + shipping_cost("express", 2)
    assert changed["history"][-1]["cause"] == "updated"
    assert changed["status"] == "pending_payment"

    # Express does not ship to France: refused, nothing changes.
    refused = await checkout.http.patch(
        url, headers=shopper, json={"shipping_address": FRENCH_ADDRESS}
    )
    assert_problem(refused, 422, "shipping_method")
    both = {"shipping_method": "standard", "shipping_address": FRENCH_ADDRESS}
    moved = (await checkout.http.patch(url, headers=shopper, json=both)).json()
    assert moved["shipping_address"]["country"] == "FR"
    assert moved["total"]["amount"] == 2000 + shipping_cost("standard", 2)
    summary = (await checkout.http.get(f"/internal/shops/{SHOP}/orders/{order['id']}")).json()
    assert summary["total"] == moved["total"]  # what payments charges

    assert_problem(await checkout.http.patch(url, headers=shopper, json={}), 422)
    intruder = await checkout.http.patch(url, headers=checkout.user(), json=both)
    assert_problem(intruder, 404)
    await checkout.paid(moved)
    late = await checkout.http.patch(url, headers=shopper, json={"shipping_method": "express"})
    assert assert_problem(late, 409)["type"].endswith("/order-not-editable")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # no database at stake
async def test_bad_order_ids_are_422_or_404(checkout: Checkout) -> None:
    shopper = checkout.user()
    assert_problem(await checkout.get(shopper, "not-an-id"), 422, "path.order_id")
    assert_problem(await checkout.get(shopper, "00000000-0000-0000-0000-000000000000"), 404)
