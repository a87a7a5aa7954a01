"""Admin CRUD of products, the shop's currency, soft delete, stock, and shop isolation."""

from __future__ import annotations

import base64
from typing import Any


async def test_admin_creates_reads_updates_a_product(catalog: Any) -> None:
    await catalog.category("mugs")
    created = await catalog.create(
        name="Blue Mug ☕",
        description="Holds coffee.\nDishwasher safe.",
        sku="MUG-1",
        price={"amount": 1299, "currency": "EUR"},
        compare_at_amount=1599,
        attributes={"color": "blue"},
        category_ids=["mugs"],
        on_hand=7,
    )
    assert created["slug"] == "blue-mug"
    assert created["price"] == {"amount": 1299, "currency": "EUR"}
    assert created["compare_at"] == {"amount": 1599, "currency": "EUR"}
    assert created["available"] == 7 and created["version"] == 1
    assert created["stock"] == {
        "on_hand": 7,
        "reserved": 0,
        "available": 7,
        "low_stock_threshold": 5,
    }

    # Shoppers read it without stock levels; admins with them.
    public = (await catalog.get(created["id"])).json()
    assert (
        public["name"] == "Blue Mug ☕" and public["stock"] is None and public["deleted"] is False
    )
    admin = (await catalog.get(created["id"], headers=catalog.admin)).json()
    assert admin["stock"]["on_hand"] == 7

    path = catalog.api("acme", f"/products/{created['id']}")
    patched = await catalog.http.patch(
        path, headers=catalog.admin, json={"name": "Big Blue Mug", "active": False}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Big Blue Mug" and body["active"] is False and body["version"] == 2
    assert body["slug"] == "blue-mug"  # a slug stays unless changed explicitly
    assert body["available"] == 0  # an inactive product cannot be bought

    same = await catalog.http.patch(path, headers=catalog.admin, json={"name": "Big Blue Mug"})
    assert same.json()["version"] == 2  # nothing changed, nothing bumped

    events = await catalog.pubsub.wait_for("product.updated", 2, product_id=created["id"])
    assert [e.data["version"] for e in events] == [1, 2]
    assert events[0].data["category_ids"] == ["mugs"] and events[0].shop == "acme"
    assert events[1].data["active"] is False and events[1].data["available"] == 0


async def test_slugs_are_made_from_names_and_unique(catalog: Any) -> None:
    first = await catalog.create(name="Crème Brûlée Set", sku="CB-1")
    second = await catalog.create(name="Crème brûlée set!", sku="CB-2")
    assert (first["slug"], second["slug"]) == ("creme-brulee-set", "creme-brulee-set-2")
    assert (await catalog.create(name="日本茶", sku="JP-1"))["slug"] == "product"

    taken = await catalog.http.post(
        catalog.api("acme", "/products"),
        headers=catalog.admin,
        json={"name": "X", "slug": "creme-brulee-set", "sku": "CB-3", "price": {"amount": 1}},
    )
    catalog.assert_problem(taken, 409, "body.slug")
    dup_sku = await catalog.http.post(
        catalog.api("acme", "/products"),
        headers=catalog.admin,
        json={"name": "X", "sku": "CB-1", "price": {"amount": 1}},
    )
    catalog.assert_problem(dup_sku, 409, "body.sku")
    rename = await catalog.http.patch(
        catalog.api("acme", f"/products/{second['id']}"),
        headers=catalog.admin,
        json={"sku": "CB-1"},
    )
    catalog.assert_problem(rename, 409, "body.sku")


async def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(catalog: Any) -> None:
    url = catalog.api("acme", "/products")
    good = {"name": "Mug", "sku": "M-1", "price": {"amount": 500}}
    cases: list[tuple[dict[str, Any], int, str]] = [
        (good | {"price": {"amount": -1}}, 422, "body.price.amount"),
        (good | {"price": {"amount": 10**13 + 1}}, 422, "body.price.amount"),
        (good | {"price": {"amount": 500, "currency": "USD"}}, 422, "body.price.currency"),
        (good | {"price": {"amount": 500, "currency": "XXX1"}}, 422, "body.price.currency"),
        (good | {"compare_at_amount": 500}, 422, "body.compare_at_amount"),
        (good | {"compare_at_amount": 100}, 422, "body.compare_at_amount"),
        (good | {"category_ids": ["nope"]}, 422, "body.category_ids"),
        (good | {"category_ids": ["bad id!"]}, 422, "body.category_ids.0"),
        (good | {"name": "x" * 201}, 422, "body.name"),
        (good | {"name": "bell\x07"}, 422, "body.name"),
        (good | {"description": "d" * 5001}, 422, "body.description"),
        (good | {"sku": "has space"}, 422, "body.sku"),
        (good | {"slug": "Not A Slug"}, 422, "body.slug"),
        (good | {"attributes": {f"k{i}": "v" for i in range(51)}}, 422, "body.attributes"),
        (good | {"attributes": {"k": "v" * 501}}, 422, "body.attributes.k"),
        (good | {"on_hand": -1}, 422, "body.on_hand"),
        (good | {"on_hand": 10**10}, 422, "body.on_hand"),
        (good | {"colour": "blue"}, 422, "body.colour"),
        ({"name": "Mug", "sku": "M-1"}, 422, "body.price"),
    ]
    for body, status, field in cases:
        answer = await catalog.http.post(url, headers=catalog.admin, json=body)
        catalog.assert_problem(answer, status, field)
    bad_json = await catalog.http.post(
        url, headers=catalog.admin | {"content-type": "application/json"}, content=b"{nope"
    )
    catalog.assert_problem(bad_json, 422)
    for bad_id in ("not-a-uuid!", "x" * 40, "DROP TABLE"):
        catalog.assert_problem(await catalog.get(bad_id), 422, "path.product_id")
    catalog.assert_problem(await catalog.get("0000-0000"), 404)

    product = await catalog.create(name="Mug", sku="M-1", price={"amount": 500})
    path = catalog.api("acme", f"/products/{product['id']}")
    for body, field in (
        ({"name": None}, "body.name"),
        ({"price": {"amount": 1}}, "body.price"),
        ({"on_hand": 3}, "body.on_hand"),
        ({"low_stock_threshold": -1}, "body.low_stock_threshold"),
    ):
        catalog.assert_problem(
            await catalog.http.patch(path, headers=catalog.admin, json=body), 422, field
        )
    price = catalog.api("acme", f"/products/{product['id']}/price")
    for body, field in (
        ({"amount": -5}, "body.amount"),
        ({"amount": 500, "compare_at_amount": 499}, "body.compare_at_amount"),
        ({"amount": 500, "currency": "USD"}, "body.currency"),
    ):
        catalog.assert_problem(
            await catalog.http.put(price, headers=catalog.admin, json=body), 422, field
        )
    # Nothing changed, and nothing but the creation was announced.
    after = (await catalog.get(product["id"])).json()
    assert after["version"] == 1 and after["price"]["amount"] == 500
    await catalog.pubsub.wait_for("product.updated", 1)
    assert len(catalog.pubsub.topic("product.updated")) == 1


async def test_only_admins_write(catalog: Any) -> None:
    product = await catalog.create()
    url = catalog.api("acme", "/products")
    body = {"name": "Mug", "sku": "M-1", "price": {"amount": 500}}
    catalog.assert_problem(await catalog.http.post(url, json=body), 401)
    catalog.assert_problem(await catalog.http.post(url, headers=catalog.user, json=body), 403)
    path = catalog.api("acme", f"/products/{product['id']}")
    catalog.assert_problem(await catalog.http.delete(path, headers=catalog.user), 403)
    stock = await catalog.http.put(path + "/stock", headers=catalog.user, json={"on_hand": 1})
    catalog.assert_problem(stock, 403)
    catalog.assert_problem(await catalog.http.get(path + "/prices", headers=catalog.user), 403)
    inactive = await catalog.http.get(
        url, params={"include_inactive": "true"}, headers=catalog.user
    )
    catalog.assert_problem(inactive, 403)


async def test_price_changes_keep_a_history(catalog: Any) -> None:
    product = await catalog.create(price={"amount": 1000})
    price = catalog.api("acme", f"/products/{product['id']}/price")
    for body in (
        {"amount": 900, "compare_at_amount": 1000},
        {"amount": 900, "compare_at_amount": 1000},  # the same again: no new entry
        {"amount": 1100, "currency": "EUR"},
    ):
        answer = await catalog.http.put(price, headers=catalog.admin, json=body)
        assert answer.status_code == 200, answer.text
    final = answer.json()
    assert final["price"] == {"amount": 1100, "currency": "EUR"} and final["compare_at"] is None
    assert final["version"] == 3

    history = catalog.api("acme", f"/products/{product['id']}/prices")
    page = (await catalog.http.get(history, headers=catalog.admin, params={"limit": 2})).json()
    assert [(p["amount"], p["compare_at_amount"]) for p in page["items"]] == [
        (1100, None),
        (900, 1000),
    ]
    assert page["items"][0]["changed_by"] == "admin-1" and page["items"][0]["currency"] == "EUR"
    rest = await catalog.http.get(
        history, headers=catalog.admin, params={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert [p["amount"] for p in rest.json()["items"]] == [1000] and rest.json()[
        "next_cursor"
    ] is None
    for garbage in ("garbage!", base64.urlsafe_b64encode(b"p" + b"9" * 30).decode()):
        bad = await catalog.http.get(history, headers=catalog.admin, params={"cursor": garbage})
        catalog.assert_problem(bad, 400, "query.cursor")
    nowhere = catalog.api("acme", "/products/00000000-0000-4000-8000-000000000000/prices")
    missing = await catalog.http.get(nowhere, headers=catalog.admin, params={"cursor": "bad!"})
    assert missing.status_code == 404  # the product is looked for before its cursor is read
    events = await catalog.pubsub.wait_for("product.updated", 3, product_id=product["id"])
    assert [e.data["price_amount"] for e in events] == [1000, 900, 1100]


async def test_soft_delete_keeps_the_product_readable_but_unlisted(catalog: Any) -> None:
    product = await catalog.create(sku="GONE-1", on_hand=5)
    path = catalog.api("acme", f"/products/{product['id']}")
    assert (await catalog.http.delete(path, headers=catalog.admin)).status_code == 204
    assert (await catalog.http.delete(path, headers=catalog.admin)).status_code == 204  # again

    read = (await catalog.get(product["id"])).json()
    assert read["deleted"] is True and read["deleted_at"] and read["available"] == 0
    assert read["version"] == 2
    assert (await catalog.list()).json()["items"] == []
    admin_list = await catalog.http.get(
        catalog.api("acme", "/products"), headers=catalog.admin, params={"include_inactive": True}
    )
    assert admin_list.json()["items"] == []
    lookup = await catalog.internal(
        "POST", "/internal/shops/acme/products/lookup", json={"ids": [product["id"]]}
    )
    assert lookup.json()["items"][0]["active"] is False
    assert lookup.json()["items"][0]["available"] == 0

    for method, suffix, body in (
        ("PATCH", "", {"name": "Back"}),
        ("PUT", "/price", {"amount": 5}),
        ("PUT", "/stock", {"on_hand": 5}),
    ):
        answer = await catalog.http.request(method, path + suffix, headers=catalog.admin, json=body)
        catalog.assert_problem(answer, 409)
    # Its SKU and slug are free for a new product.
    again = await catalog.create(sku="GONE-1", name=product["name"])
    assert again["slug"] == product["slug"]
    deleted = await catalog.pubsub.wait_for("product.deleted", 1)
    assert deleted[0].data == {"product_id": product["id"], "version": 2}


async def test_stock_levels_and_low_stock_events(catalog: Any) -> None:
    product = await catalog.create(on_hand=10, low_stock_threshold=3)
    stock = catalog.api("acme", f"/products/{product['id']}/stock")
    for on_hand in (4, 3, 2, 0, 8):
        answer = await catalog.http.put(stock, headers=catalog.admin, json={"on_hand": on_hand})
        assert answer.status_code == 200, answer.text
        assert answer.json()["stock"]["on_hand"] == on_hand
    catalog.assert_problem(
        await catalog.http.put(stock, headers=catalog.admin, json={"on_hand": -1}),
        422,
        "body.on_hand",
    )
    await catalog.pubsub.wait_for("product.updated", 6, product_id=product["id"])
    low = catalog.pubsub.topic("stock.low")
    # 4 -> 3 crosses the threshold, 2 -> 0 runs out; 3 -> 2 is already low.
    assert [(e.data["available"], e.data["threshold"]) for e in low] == [(3, 3), (0, 3)]

    order = "/internal/shops/acme/reservations/order-1"
    lines = {"lines": [{"product_id": product["id"], "quantity": 6}]}
    assert (await catalog.internal("PUT", order, json=lines)).json()["status"] == "reserved"
    below = await catalog.http.put(stock, headers=catalog.admin, json={"on_hand": 5})
    body = catalog.assert_problem(below, 409, "body.on_hand")
    assert "6 units are reserved" in body["detail"]
    assert (
        await catalog.http.put(stock, headers=catalog.admin, json={"on_hand": 6})
    ).status_code == 200


async def test_shop_currency_comes_from_identity_once_and_shops_are_isolated(
    catalog: Any,
) -> None:
    acme = await catalog.create("acme")
    await catalog.create("acme")
    bolt = await catalog.create("bolt", price={"amount": 2500})
    assert bolt["price"]["currency"] == "USD"
    assert catalog.identity_calls == ["acme", "bolt"]  # asked once per shop, then remembered

    nowhere = await catalog.http.post(
        catalog.api("ghost", "/products"),
        headers=catalog.admin_of("ghost"),
        json={"name": "X", "sku": "X", "price": {"amount": 1}},
    )
    catalog.assert_problem(nowhere, 404)

    # A product of acme does not exist in bolt, for anyone.
    catalog.assert_problem(await catalog.get(acme["id"], shop="bolt"), 404)
    as_bolt_admin = await catalog.http.patch(
        catalog.api("bolt", f"/products/{acme['id']}"),
        headers=catalog.admin_of("bolt"),
        json={"name": "Stolen"},
    )
    catalog.assert_problem(as_bolt_admin, 404)
    # acme's token in bolt's URL: nothing here for it.
    cross = await catalog.http.delete(
        catalog.api("bolt", f"/products/{bolt['id']}"), headers=catalog.admin
    )
    catalog.assert_problem(cross, 404)
    assert [i["id"] for i in (await catalog.list("bolt")).json()["items"]] == [bolt["id"]]
    lookup = await catalog.internal(
        "POST", "/internal/shops/bolt/products/lookup", json={"ids": [acme["id"], bolt["id"]]}
    )
    assert lookup.json()["missing"] == [acme["id"]]
