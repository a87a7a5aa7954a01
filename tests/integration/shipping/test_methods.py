"""Shipping methods: admins manage them in the shop's currency; shoppers list those on offer."""

from __future__ import annotations

from typing import Any


async def test_admin_creates_changes_and_lists_methods(shipping: Any) -> None:
    answer = await shipping.http.post(
        shipping.api("/shipping/methods"),
        headers=shipping.admin,
        json={
            "id": "standard",
            "name": "Standard",
            "carrier": "DHL",
            "base_amount": 490,
            "per_kg_amount": 100,
            "free_above_amount": 5000,
            "countries": ["DE", "AT", "DE"],
        },
    )
    assert answer.status_code == 201, answer.text
    standard = answer.json()
    assert answer.headers["location"] == shipping.api("/shipping/methods/standard")
    assert standard["currency"] == "EUR"  # the shop's, from identity
    assert standard["countries"] == ["DE", "AT"] and standard["active"] is True
    assert (standard["estimated_days_min"], standard["estimated_days_max"]) == (1, 5)
    await shipping.method(id="express", name="Express", base_amount=1290, countries=["DE"])
    await shipping.method(id="pickup", name="Pick-up", base_amount=0, active=False)

    # Shoppers (signed in or not) see the active ones, cheapest first; `country` filters.
    listed = await shipping.http.get(shipping.api("/shipping/methods"))
    assert [m["id"] for m in listed.json()["items"]] == ["standard", "express"]
    at = await shipping.http.get(shipping.api("/shipping/methods"), params={"country": "AT"})
    assert [m["id"] for m in at.json()["items"]] == ["standard"]
    everywhere = await shipping.method(id="world", name="World", base_amount=2990)
    assert everywhere["countries"] == []
    jp = await shipping.http.get(
        shipping.api("/shipping/methods"), params={"country": "JP"}, headers=shipping.ada
    )
    assert [m["id"] for m in jp.json()["items"]] == ["world"]

    # Admins see inactive ones too; shoppers get 404 for them.
    every = await shipping.http.get(
        shipping.api("/shipping/methods"),
        params={"include_inactive": "true"},
        headers=shipping.admin,
    )
    assert {m["id"] for m in every.json()["items"]} == {"standard", "express", "pickup", "world"}
    hidden = await shipping.http.get(
        shipping.api("/shipping/methods"),
        params={"include_inactive": "true"},
        headers=shipping.ada,
    )
    shipping.assert_problem(hidden, 403)
    shipping.assert_problem(await shipping.http.get(shipping.api("/shipping/methods/pickup")), 404)
    pickup = await shipping.http.get(
        shipping.api("/shipping/methods/pickup"), headers=shipping.admin
    )
    assert pickup.json()["active"] is False

    # PATCH changes only what is sent; null removes the free threshold.
    patched = await shipping.http.patch(
        shipping.api("/shipping/methods/standard"),
        headers=shipping.admin,
        json={"base_amount": 590, "free_above_amount": None, "countries": []},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["base_amount"], body["free_above_amount"], body["countries"]) == (590, None, [])
    assert body["carrier"] == "DHL" and body["version"] == 2
    same = await shipping.http.patch(
        shipping.api("/shipping/methods/standard"),
        headers=shipping.admin,
        json={"base_amount": 590},
    )
    assert same.json()["version"] == 2  # nothing changed, nothing bumped
    read = await shipping.http.get(shipping.api("/shipping/methods/standard"))
    assert read.json()["base_amount"] == 590


async def test_each_shop_has_its_own_methods_in_its_currency(shipping: Any) -> None:
    await shipping.method()
    theirs = await shipping.method(shop=shipping.OTHER_SHOP, id="ground", name="Ground")
    assert theirs["currency"] == "USD"
    mine = await shipping.http.get(shipping.api("/shipping/methods"))
    assert [m["id"] for m in mine.json()["items"]] == ["standard"]
    # Their method is not here, whoever asks; their admin's token on our shop: 404.
    for headers in ({}, shipping.admin):
        answer = await shipping.http.get(shipping.api("/shipping/methods/ground"), headers=headers)
        shipping.assert_problem(answer, 404)
    their_admin = shipping.headers("admin-bolt", "Admin", shipping.OTHER_SHOP)
    answer = await shipping.http.patch(
        shipping.api("/shipping/methods/standard"), json={"name": "Mine now"}, headers=their_admin
    )
    shipping.assert_problem(answer, 404)
    # A currency other than the shop's is refused.
    wrong = await shipping.http.post(
        shipping.api("/shipping/methods"),
        headers=shipping.admin,
        json={"id": "usd", "name": "USD", "carrier": "UPS", "currency": "USD"},
    )
    assert shipping.assert_problem(wrong, 422, "body.currency")["type"].endswith(
        "/currency-mismatch"
    )
    unknown_shop = await shipping.http.post(
        shipping.api("/shipping/methods", "nowhere"),
        json={**_method(), "id": "x"},
        headers=shipping.headers("admin-x", "Admin", "nowhere"),
    )
    shipping.assert_problem(unknown_shop, 404)


def _method(**changes: Any) -> dict[str, Any]:
    return {"id": "standard", "name": "Standard", "carrier": "DHL"} | changes


BAD_METHODS = [
    ({"id": "Standard"}, "body.id"),
    ({"id": "-std"}, "body.id"),
    ({"id": "a" * 65}, "body.id"),
    ({"name": ""}, "body.name"),
    ({"name": "bad\x00name"}, "body.name"),
    ({"carrier": None}, "body.carrier"),
    ({"base_amount": -1}, "body.base_amount"),
    ({"per_kg_amount": 1.5}, "body.per_kg_amount"),
    ({"per_item_amount": "ten"}, "body.per_item_amount"),
    ({"free_above_amount": 10**14}, "body.free_above_amount"),
    ({"estimated_days_min": -1}, "body.estimated_days_min"),
    ({"estimated_days_max": 400}, "body.estimated_days_max"),
    ({"countries": ["XX"]}, "body.countries.0"),
    ({"countries": ["de"]}, "body.countries.0"),
    ({"countries": "DE"}, "body.countries"),
    ({"currency": "EURO"}, "body.currency"),
    ({"colour": "red"}, "body.colour"),
]


async def test_bad_methods_are_422_naming_the_field(shipping: Any) -> None:
    for changes, field in BAD_METHODS:
        answer = await shipping.http.post(
            shipping.api("/shipping/methods"), json=_method(**changes), headers=shipping.admin
        )
        body = shipping.assert_problem(answer, 422, field)
        assert body["type"].endswith("/validation-error")
    listed = await shipping.http.get(
        shipping.api("/shipping/methods"),
        params={"include_inactive": "true"},
        headers=shipping.admin,
    )
    assert listed.json()["items"] == []  # nothing was made


async def test_other_method_mistakes_are_4xx_that_say_what_to_fix(
    start_shipping: Any,
) -> None:
    shipping = await start_shipping(max_methods_per_shop=2)
    days = await shipping.http.post(
        shipping.api("/shipping/methods"),
        headers=shipping.admin,
        json=_method(estimated_days_min=5, estimated_days_max=2),
    )
    assert "estimated_days_max" in shipping.assert_problem(days, 422)["detail"]
    await shipping.method()
    taken = await shipping.http.post(
        shipping.api("/shipping/methods"), json=_method(), headers=shipping.admin
    )
    assert shipping.assert_problem(taken, 409, "body.id")["type"].endswith("/method-id-taken")
    await shipping.method(id="express")
    full = await shipping.http.post(
        shipping.api("/shipping/methods"), json=_method(id="third"), headers=shipping.admin
    )
    assert shipping.assert_problem(full, 409)["type"].endswith("/too-many-methods")

    for patch, field in (
        ({"estimated_days_max": 0}, "body.estimated_days_max"),  # below the stored min (2)
        ({"name": None}, "body.name"),
        ({"id": "renamed"}, "body.id"),
        ({"currency": "USD"}, "body.currency"),
    ):
        answer = await shipping.http.patch(
            shipping.api("/shipping/methods/standard"), json=patch, headers=shipping.admin
        )
        shipping.assert_problem(answer, 422, field)
    missing = await shipping.http.patch(
        shipping.api("/shipping/methods/nope"), json={"name": "x"}, headers=shipping.admin
    )
    shipping.assert_problem(missing, 404)

    # Only admins manage methods.
    for method, path, body in (
        ("POST", "/shipping/methods", _method(id="mine")),
        ("PATCH", "/shipping/methods/standard", {"name": "Mine"}),
        ("DELETE", "/shipping/methods/standard", None),
    ):
        as_user = await shipping.http.request(
            method, shipping.api(path), json=body, headers=shipping.ada
        )
        shipping.assert_problem(as_user, 403)
        anonymous = await shipping.http.request(method, shipping.api(path), json=body)
        shipping.assert_problem(anonymous, 401)


async def test_delete_removes_an_unused_method_and_retires_a_used_one(shipping: Any) -> None:
    await shipping.method(id="unused")
    await shipping.method(id="standard")
    gone = await shipping.http.delete(
        shipping.api("/shipping/methods/unused"), headers=shipping.admin
    )
    assert gone.json() == {"id": "unused", "outcome": "deleted"}
    shipping.assert_problem(
        await shipping.http.get(shipping.api("/shipping/methods/unused"), headers=shipping.admin),
        404,
    )
    await shipping.paid_shipment(method="standard")
    retired = await shipping.http.delete(
        shipping.api("/shipping/methods/standard"), headers=shipping.admin
    )
    assert retired.json() == {"id": "standard", "outcome": "deactivated"}
    kept = await shipping.http.get(
        shipping.api("/shipping/methods/standard"), headers=shipping.admin
    )
    assert kept.json()["active"] is False
    listed = await shipping.http.get(shipping.api("/shipping/methods"))
    assert listed.json()["items"] == []
    again = await shipping.http.delete(
        shipping.api("/shipping/methods/standard"), headers=shipping.admin
    )
    assert again.json()["outcome"] == "deactivated"
    missing = await shipping.http.delete(
        shipping.api("/shipping/methods/unused"), headers=shipping.admin
    )
    shipping.assert_problem(missing, 404)


async def test_a_shop_without_methods_gets_the_defaults_once(shipping: Any) -> None:
    from shopfleet.kit.auth import SHOP_API_PREFIX
    from shopfleet.shipping.demo import seed_default_methods

    prefix = SHOP_API_PREFIX.replace("{shop}", shipping.SHOP)
    made = await seed_default_methods(shipping.http, prefix, shipping.admin)
    assert made == ["standard", "express"]
    listed = await shipping.http.get(shipping.api("/shipping/methods"), params={"country": "DE"})
    assert [m["id"] for m in listed.json()["items"]] == ["standard", "express"]
    assert await seed_default_methods(shipping.http, prefix, shipping.admin) == []  # again

    # A shop whose admin has a method of its own (even an inactive one) is left alone.
    other = shipping.OTHER_SHOP
    await shipping.method(shop=other, id="own", active=False)
    their_admin = shipping.headers("admin-bolt", "Admin", other)
    their_prefix = SHOP_API_PREFIX.replace("{shop}", other)
    assert await seed_default_methods(shipping.http, their_prefix, their_admin) == []
