"""The fast read path's answers are the bytes the ORM path gave (`product_reads`).

`GET /products/{id}` and the internal lookup no longer load ORM objects or validate a model;
each answer here is compared byte for byte with what the former path produced: the ORM
product and its images through `product_public` (or `ProductSnapshot`), serialized as FastAPI
serializes a returned model (`JSONResponse` of its JSON-mode dump).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from shopfleet.catalog import domain
from shopfleet.catalog.schemas import image_url, product_public
from shopfleet.catalog.store import products as store
from shopfleet.kit.contracts.catalog import ProductLookupResult, ProductSnapshot
from shopfleet.kit.db import Database
from shopfleet.kit.money import Money

LOOKUP = "/internal/shops/acme/products/lookup"


def as_fastapi_sends(model: BaseModel) -> bytes:
    """As FastAPI 0.165 sends a returned model: pydantic's JSON of it, by alias."""
    return TypeAdapter(type(model)).dump_json(model, by_alias=True)


def database(catalog: Any) -> Database:
    db: Database = catalog.app.state.catalog.listing.db
    return db


async def orm_answer(catalog: Any, product_id: str, *, admin: bool) -> bytes:
    async with database(catalog).reader() as session:
        product = await store.find_product(session, "acme", product_id)
        assert product is not None
        images = await store.images_of(session, product_id)
        return as_fastapi_sends(product_public(product, images, admin=admin))


async def orm_lookup(catalog: Any, ids: list[str]) -> bytes:
    items, missing = [], []
    async with database(catalog).reader() as session:
        for product_id in dict.fromkeys(ids):
            row = await store.find_product(session, "acme", product_id)
            if row is None:
                missing.append(product_id)
                continue
            thumb = row.thumbnail_image_id
            items.append(
                ProductSnapshot(
                    id=row.id,
                    name=row.name,
                    slug=row.slug,
                    sku=row.sku,
                    price=Money(amount=row.price_amount, currency=row.currency),
                    available=domain.available(row),
                    active=row.active and row.deleted_at is None,
                    image_url=image_url("acme", thumb, "thumb") if thumb else None,
                    weight_grams=row.weight_grams,
                )
            )
    return as_fastapi_sends(ProductLookupResult(items=items, missing=missing))


async def test_a_product_reads_as_the_orm_path_wrote_it(catalog: Any) -> None:
    await catalog.category("mugs")
    await catalog.category("gifts")
    rich = await catalog.create(
        name='Blue "Mug" ☕ — grün',
        description="Holds coffee.\nDishwasher safe.\tReally — ünïcødé \\ / <b>",
        sku="MUG-1",
        price={"amount": 1299},
        compare_at_amount=1599,
        attributes={"color": "blue", "größe": "L", "a": ""},
        category_ids=["mugs", "gifts"],
        on_hand=7,
        weight_grams=350,
    )
    images = catalog.api("acme", f"/products/{rich['id']}/images")
    for color in ("orange", "navy"):
        upload = {"file": ("p.png", catalog.png(40, 30, color), "image/png")}
        assert (await catalog.http.post(images, headers=catalog.admin, files=upload)).is_success
    plain = await catalog.create(on_hand=0, active=False)
    gone = await catalog.create(on_hand=2)
    deleted = await catalog.http.delete(
        catalog.api("acme", f"/products/{gone['id']}"), headers=catalog.admin
    )
    assert deleted.status_code == 204

    for product in (rich, plain, gone):
        for headers, admin in (({}, False), (catalog.user, False), (catalog.admin, True)):
            answer = await catalog.get(product["id"], headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "application/json"
            assert answer.content == await orm_answer(catalog, product["id"], admin=admin)
    assert len((await catalog.get(rich["id"])).json()["images"]) == 2


async def test_an_unknown_or_foreign_product_is_still_a_404(catalog: Any) -> None:
    bolt = await catalog.create("bolt")
    for product_id in (bolt["id"], "00000000-0000-0000-0000-000000000000"):
        catalog.assert_problem(await catalog.get(product_id), 404)
    other_shop = catalog.admin_of("bolt")  # another shop's token: nothing here for it
    mine = await catalog.create()
    catalog.assert_problem(await catalog.get(mine["id"], headers=other_shop), 404)


async def test_the_lookup_answers_as_the_orm_path_did(catalog: Any) -> None:
    mug = await catalog.create(name="Mug ☕", price={"amount": 1250}, on_hand=3)
    hidden = await catalog.create(on_hand=5, active=False)
    gone = await catalog.create(on_hand=2)
    images = catalog.api("acme", f"/products/{mug['id']}/images")
    upload = {"file": ("p.png", catalog.png(40, 30), "image/png")}
    assert (await catalog.http.post(images, headers=catalog.admin, files=upload)).is_success
    await catalog.http.delete(catalog.api("acme", f"/products/{gone['id']}"), headers=catalog.admin)
    bolt = await catalog.create("bolt")

    asked = [gone["id"], mug["id"], "junk", bolt["id"], hidden["id"], mug["id"]]
    answer = await catalog.internal("POST", LOOKUP, json={"ids": asked})
    assert answer.status_code == 200, answer.text
    assert answer.content == await orm_lookup(catalog, asked)
    body = answer.json()
    assert [item["id"] for item in body["items"]] == [gone["id"], mug["id"], hidden["id"]]
    assert body["missing"] == ["junk", bolt["id"]]

    many = [mug["id"]] * 40 + [f"{n:08x}-0000-0000-0000-000000000000" for n in range(60)]
    answer = await catalog.internal("POST", LOOKUP, json={"ids": many})
    assert answer.status_code == 200 and answer.content == await orm_lookup(catalog, many)
