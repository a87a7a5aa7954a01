"""A product's shipping weight: set by admins, shown to everyone, handed to shipping."""

from __future__ import annotations

from typing import Any


async def test_weight_is_set_read_changed_and_looked_up(catalog: Any) -> None:
    plain = await catalog.create()
    assert plain["weight_grams"] == 0  # not given: unknown, ships as weightless
    skillet = await catalog.create(name="Skillet", weight_grams=2700)
    assert skillet["weight_grams"] == 2700
    assert (await catalog.get(skillet["id"])).json()["weight_grams"] == 2700

    path = catalog.api("acme", f"/products/{skillet['id']}")
    changed = await catalog.http.patch(path, headers=catalog.admin, json={"weight_grams": 2500})
    assert changed.status_code == 200, changed.text
    assert changed.json()["weight_grams"] == 2500 and changed.json()["version"] == 2

    lookup = await catalog.internal(
        "POST", "/internal/shops/acme/products/lookup", json={"ids": [skillet["id"], plain["id"]]}
    )
    assert [item["weight_grams"] for item in lookup.json()["items"]] == [2500, 0]


async def test_bad_weights_are_422_naming_the_field(catalog: Any) -> None:
    product = await catalog.create()
    for weight in (-1, 1_000_001, "heavy", None):
        body = {"name": "Anvil", "sku": "ANVIL-1", "price": {"amount": 100}, "weight_grams": weight}
        created = await catalog.http.post(
            catalog.api("acme", "/products"), headers=catalog.admin, json=body
        )
        catalog.assert_problem(created, 422, "body.weight_grams")
        patched = await catalog.http.patch(
            catalog.api("acme", f"/products/{product['id']}"),
            headers=catalog.admin,
            json={"weight_grams": weight},
        )
        catalog.assert_problem(patched, 422, "body.weight_grams")
    assert (await catalog.get(product["id"])).json()["weight_grams"] == 0
