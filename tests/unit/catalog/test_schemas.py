"""The catalog API's input models: what they accept and the field they blame."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopfleet.catalog.domain import slugify
from shopfleet.catalog.schemas import PriceUpdate, ProductCreate, ProductUpdate


def _errors(model: type, **data: object) -> dict[tuple[object, ...], str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {tuple(e["loc"]): e["msg"] for e in caught.value.errors()}


BASE = {"name": "Mug", "sku": "MUG-1", "price": {"amount": 500}}


def test_compare_at_must_be_above_the_price() -> None:
    assert ProductCreate.model_validate(BASE | {"compare_at_amount": 501}).compare_at_amount == 501
    assert ("compare_at_amount",) in _errors(ProductCreate, **BASE, compare_at_amount=500)
    assert ("compare_at_amount",) in _errors(PriceUpdate, amount=10, compare_at_amount=9)
    assert PriceUpdate(amount=10, compare_at_amount=None).compare_at_amount is None
    # A bad price is blamed on the price alone, not also on compare_at.
    errors = _errors(ProductCreate, **(BASE | {"price": {"amount": -1}}), compare_at_amount=5)
    assert list(errors) == [("price", "amount")]


def test_category_ids_are_deduplicated_and_bounded() -> None:
    body = ProductCreate.model_validate(BASE | {"category_ids": ["a", "b", "a"]})
    assert body.category_ids == ["a", "b"]
    assert ("category_ids",) in _errors(
        ProductCreate, **BASE, category_ids=[f"c{i}" for i in range(21)]
    )


def test_descriptions_keep_newlines_but_no_other_control_characters() -> None:
    assert ProductCreate.model_validate(BASE | {"description": "a\nb\tc\r\n"}).description
    assert ("description",) in _errors(ProductCreate, **BASE, description="nul\x00")
    assert ("description",) in _errors(ProductCreate, **BASE, description="del\x7f")


def test_an_update_rejects_nulls_and_fields_with_their_own_routes() -> None:
    assert ProductUpdate.model_validate({"active": False}).model_dump(exclude_unset=True) == {
        "active": False
    }
    assert ("name",) in _errors(ProductUpdate, name=None)
    assert ("price",) in _errors(ProductUpdate, price={"amount": 1})
    assert ("on_hand",) in _errors(ProductUpdate, on_hand=1)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Blue Mug", "blue-mug"),
        ("  Crème Brûlée -- Set!  ", "creme-brulee-set"),
        ("100% Cotton", "100-cotton"),
        ("日本茶", "product"),
        ("x" * 300, "x" * 100),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
