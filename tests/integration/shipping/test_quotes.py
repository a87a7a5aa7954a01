"""Quotes: shoppers' (priced and weighed by the real catalog) and orders' (lines priced)."""

from __future__ import annotations

from typing import Any

from shopfleet.kit.contracts.shipping import QUOTE_PATH

PID = "0f8fad5b-d9cb-469f-a165-70867728950e"


async def _quote(shipping: Any, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return await shipping.http.post(shipping.api("/shipping/quote"), json=body, headers=headers)


async def test_a_shopper_quotes_catalog_products(shipping: Any, catalog: Any) -> None:
    await shipping.method(per_item_amount=20)  # 490 + 100/kg + 20/unit, free from 5000
    await shipping.method(
        id="express",
        name="Express",
        base_amount=1290,
        per_kg_amount=200,
        free_above_amount=None,
        estimated_days_min=1,
        estimated_days_max=2,
        countries=["DE", "AT"],
    )
    mug = await catalog.product(price=1490, weight_grams=450)
    tea = await catalog.product(price=990, weight_grams=150)

    lines = [{"product_id": mug, "quantity": 2}, {"product_id": tea, "quantity": 1}]
    answer = await _quote(shipping, method_id="standard", address=shipping.address(), lines=lines)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "method_id": "standard",
        "method_name": "Standard",
        "carrier": "DHL",
        # 1050 g → 2 kg; 3 units
        "cost": {"amount": 490 + 2 * 100 + 3 * 20, "currency": "EUR"},
        "subtotal": {"amount": 2 * 1490 + 990, "currency": "EUR"},
        "weight_grams": 1050,
        "estimated_days_min": 2,
        "estimated_days_max": 5,
    }

    # Above the free threshold: nothing to pay for standard; express is never free.
    many = [{"product_id": mug, "quantity": 4}]  # 5960
    free = await _quote(shipping, method_id="standard", address=shipping.address(), lines=many)
    assert free.json()["cost"] == {"amount": 0, "currency": "EUR"}
    express = await _quote(shipping, method_id="express", address=shipping.address(), lines=many)
    assert express.json()["cost"]["amount"] == 1290 + 2 * 200  # 1800 g → 2 kg
    assert express.json()["estimated_days_max"] == 2

    # A saved address, for a signed-in shopper.
    home = await shipping.save_address(shipping.ada, country="AT", postal_code="1010")
    saved = await _quote(
        shipping, shipping.ada, method_id="express", address_id=home["id"], lines=lines
    )
    assert saved.status_code == 200, saved.text
    # Catalog's current weight counts: an admin changes it, the next quote follows.
    changed = await catalog.http.patch(
        shipping.api(f"/products/{tea}"), json={"weight_grams": 1150}, headers=catalog.admin
    )
    assert changed.status_code == 200, changed.text
    heavier = await _quote(
        shipping, shipping.ada, method_id="express", address_id=home["id"], lines=lines
    )
    assert heavier.json()["weight_grams"] == 2050
    assert heavier.json()["cost"]["amount"] == 1290 + 3 * 200


async def test_quotes_that_cannot_be_given_say_why(shipping: Any, catalog: Any) -> None:
    await shipping.method(id="express", countries=["DE"])
    await shipping.method(id="retired", active=False)
    mug = await catalog.product(price=1490, weight_grams=450)
    hidden = await catalog.product(price=100, weight_grams=0, active=False)
    lines = [{"product_id": mug, "quantity": 1}]
    home = shipping.address()

    abroad = await _quote(
        shipping, method_id="express", address=shipping.address(country="FR"), lines=lines
    )
    body = shipping.assert_problem(abroad, 422, "body.address.country")
    assert body["type"].endswith("/country-not-served") and "FR" in body["detail"]

    for method_id in ("nope", "retired"):
        unknown = await _quote(shipping, method_id=method_id, address=home, lines=lines)
        shipping.assert_problem(unknown, 404)

    for product_id in (PID, hidden):
        answer = await _quote(
            shipping,
            method_id="express",
            address=home,
            lines=[*lines, {"product_id": product_id, "quantity": 1}],
        )
        shipping.assert_problem(answer, 422, "body.lines.1.product_id")

    # Exactly one of address and address_id; a saved one needs a login and must be yours.
    both = await _quote(shipping, method_id="express", address=home, address_id=PID, lines=lines)
    shipping.assert_problem(both, 422)
    neither = await _quote(shipping, method_id="express", lines=lines)
    shipping.assert_problem(neither, 422)
    bobs = await shipping.save_address(shipping.bob)
    anonymous = await _quote(shipping, method_id="express", address_id=bobs["id"], lines=lines)
    shipping.assert_problem(anonymous, 401)
    not_hers = await _quote(
        shipping, shipping.ada, method_id="express", address_id=bobs["id"], lines=lines
    )
    shipping.assert_problem(not_hers, 404)

    for bad_lines, field in (
        ([], "body.lines"),
        ([{"product_id": mug, "quantity": 0}], "body.lines.0.quantity"),
        ([{"product_id": mug, "quantity": 1000}], "body.lines.0.quantity"),
        ([{"product_id": "DROP TABLE", "quantity": 1}], "body.lines.0.product_id"),
    ):
        answer = await _quote(shipping, method_id="express", address=home, lines=bad_lines)
        shipping.assert_problem(answer, 422, field)


async def test_the_catalog_down_is_a_503(shipping: Any, blocks: Any) -> None:
    await shipping.method()
    blocks.invoker.unregister("catalog")
    answer = await _quote(
        shipping,
        method_id="standard",
        address=shipping.address(),
        lines=[{"product_id": PID, "quantity": 1}],
    )
    assert shipping.assert_problem(answer, 503)["type"].endswith("/catalog-unavailable")
    assert answer.headers["retry-after"] == "5"


def _priced(price: int, quantity: int, grams: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "product_id": PID,
        "quantity": quantity,
        "weight_grams": grams,
        "unit_price": {"amount": price, "currency": currency},
    }


async def test_orders_quotes_priced_lines_by_invocation(shipping: Any) -> None:
    await shipping.method(countries=["DE", "AT"])
    url = QUOTE_PATH.format(shop=shipping.SHOP)
    body = {"method_id": "standard", "address": shipping.address(), "lines": [_priced(1000, 3, 1)]}
    answer = await shipping.http.post(url, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["cost"] == {"amount": 490 + 100, "currency": "EUR"}  # 3 g → 1 kg
    assert answer.json()["subtotal"] == {"amount": 3000, "currency": "EUR"}

    abroad = await shipping.http.post(url, json=body | {"address": shipping.address(country="US")})
    shipping.assert_problem(abroad, 422, "body.address.country")
    unknown = await shipping.http.post(url, json=body | {"method_id": "nope"})
    shipping.assert_problem(unknown, 404)
    dollars = await shipping.http.post(url, json=body | {"lines": [_priced(1000, 1, 0, "USD")]})
    shipping.assert_problem(dollars, 422, "body.lines.0.unit_price.currency")
    other_shop = await shipping.http.post(QUOTE_PATH.format(shop=shipping.OTHER_SHOP), json=body)
    shipping.assert_problem(other_shop, 404)  # their shop has no such method
