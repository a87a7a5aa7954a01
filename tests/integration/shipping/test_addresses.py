"""Saved addresses: each shopper's own, validated, limited; anyone else's is a 404."""

from __future__ import annotations

from typing import Any

from shopfleet.kit.contracts.shipping import ADDRESS_PATH


async def test_a_shopper_keeps_their_addresses(shipping: Any) -> None:
    home = await shipping.save_address(shipping.ada, line2="3rd floor", phone="+49 30 123")
    assert home["country"] == "DE" and home["line2"] == "3rd floor"
    work = await shipping.save_address(
        shipping.ada,
        name="  Ada L.  ",
        line1="1 Main St",
        city="Boston",
        postal_code="02108",
        region="MA",
        country="US",
    )
    assert work["name"] == "Ada L."  # whitespace trimmed
    listed = await shipping.http.get(shipping.api("/shipping/addresses"), headers=shipping.ada)
    assert [a["id"] for a in listed.json()["items"]] == [home["id"], work["id"]]

    path = shipping.api(f"/shipping/addresses/{home['id']}")
    patched = await shipping.http.patch(
        path,
        json={"city": "Potsdam", "postal_code": "14467", "line2": None},
        headers=shipping.ada,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["city"], patched.json()["line2"]) == ("Potsdam", None)
    assert patched.json()["phone"] == "+49 30 123"  # not sent: kept
    read = await shipping.http.get(path, headers=shipping.ada)
    assert read.json()["postal_code"] == "14467"

    deleted = await shipping.http.delete(path, headers=shipping.ada)
    assert deleted.status_code == 204
    shipping.assert_problem(await shipping.http.get(path, headers=shipping.ada), 404)
    listed = await shipping.http.get(shipping.api("/shipping/addresses"), headers=shipping.ada)
    assert [a["id"] for a in listed.json()["items"]] == [work["id"]]


async def test_anyone_elses_address_is_404(shipping: Any) -> None:
    mine = await shipping.save_address(shipping.ada)
    path = shipping.api(f"/shipping/addresses/{mine['id']}")
    admin_elsewhere = shipping.headers("admin-bolt", "Admin", shipping.OTHER_SHOP)
    for headers in (shipping.bob, shipping.admin):
        shipping.assert_problem(await shipping.http.get(path, headers=headers), 404)
        patched = await shipping.http.patch(path, json={"city": "Nowhere"}, headers=headers)
        shipping.assert_problem(patched, 404)
        shipping.assert_problem(await shipping.http.delete(path, headers=headers), 404)
        listed = await shipping.http.get(shipping.api("/shipping/addresses"), headers=headers)
        assert listed.json()["items"] == []
    shipping.assert_problem(await shipping.http.get(path, headers=admin_elsewhere), 404)
    # Ada's own token in another shop's URL: not here either.
    other = shipping.api(f"/shipping/addresses/{mine['id']}", shipping.OTHER_SHOP)
    shipping.assert_problem(await shipping.http.get(other, headers=shipping.ada), 404)
    shipping.assert_problem(await shipping.http.get(path), 401)
    # Untouched.
    assert (await shipping.http.get(path, headers=shipping.ada)).json()["city"] == "Berlin"


async def test_orders_reads_an_address_by_invocation(shipping: Any) -> None:
    mine = await shipping.save_address(shipping.ada, region="Berlin")
    url = ADDRESS_PATH.format(shop=shipping.SHOP, user_id="user-ada", address_id=mine["id"])
    answer = await shipping.http.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "name": "Ada Lovelace",
        "line1": "Hauptstraße 1",
        "line2": None,
        "city": "Berlin",
        "region": "Berlin",
        "postal_code": "10115",
        "country": "DE",
        "phone": None,
    }
    for user, shop in (("user-bob", shipping.SHOP), ("user-ada", shipping.OTHER_SHOP)):
        url = ADDRESS_PATH.format(shop=shop, user_id=user, address_id=mine["id"])
        shipping.assert_problem(await shipping.http.get(url), 404)


BAD_ADDRESSES = [
    ({"country": "XX"}, "body.country"),
    ({"country": "Germany"}, "body.country"),
    ({"country": None}, "body.country"),
    ({"postal_code": ""}, "body.postal_code"),
    ({"postal_code": "   "}, "body.postal_code"),
    ({"postal_code": None}, "body.postal_code"),
    ({"name": "x" * 121}, "body.name"),
    ({"line1": "a\nb"}, "body.line1"),
    ({"city": ""}, "body.city"),
    ({"planet": "Mars"}, "body.planet"),
]


async def test_bad_addresses_are_422_naming_the_field(shipping: Any) -> None:
    mine = await shipping.save_address(shipping.ada)
    path = shipping.api(f"/shipping/addresses/{mine['id']}")
    for changes, field in BAD_ADDRESSES:
        created = await shipping.http.post(
            shipping.api("/shipping/addresses"),
            json=shipping.address(**changes),
            headers=shipping.ada,
        )
        shipping.assert_problem(created, 422, field)
        patched = await shipping.http.patch(path, json=changes, headers=shipping.ada)
        shipping.assert_problem(patched, 422, field)
    assert (await shipping.http.get(path, headers=shipping.ada)).json() == mine  # unchanged
    listed = await shipping.http.get(shipping.api("/shipping/addresses"), headers=shipping.ada)
    assert len(listed.json()["items"]) == 1


async def test_a_shopper_keeps_a_limited_number(start_shipping: Any) -> None:
    shipping = await start_shipping(max_addresses_per_user=2)
    await shipping.save_address(shipping.ada)
    await shipping.save_address(shipping.ada, city="Hamburg")
    third = await shipping.http.post(
        shipping.api("/shipping/addresses"), json=shipping.address(), headers=shipping.ada
    )
    assert shipping.assert_problem(third, 409)["type"].endswith("/too-many-addresses")
    await shipping.save_address(shipping.bob)  # Bob's book is his own
