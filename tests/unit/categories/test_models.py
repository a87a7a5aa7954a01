"""Slugs, input models and the listing cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shopfleet.categories.domain.products import (
    BadCursor,
    ProductSort,
    decode_cursor,
    encode_cursor,
)
from shopfleet.categories.domain.rules import slugify
from shopfleet.categories.models import CategoryCreate, CategoryUpdate

PID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Running Shoes", "running-shoes"),
        ("  Crème Brûlée & Co. ", "creme-brulee-co"),
        ("T-Shirts / Tops", "t-shirts-tops"),
        ("日本", "category"),
        ("---", "category"),
        ("a" * 150, "a" * 100),
        ("a" * 99 + " b", "a" * 99),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_a_patch_knows_which_fields_were_sent() -> None:
    update = CategoryUpdate.model_validate({"parent_id": None})
    assert update.model_dump(exclude_unset=True) == {"parent_id": None}
    assert CategoryUpdate.model_validate({"description": None}).description is None
    with pytest.raises(ValidationError, match="omit the field"):
        CategoryUpdate.model_validate({"name": None})


def test_descriptions_may_span_lines() -> None:
    created = CategoryCreate(name="x", description="one\r\ntwo\tthree")
    assert created.description == "one\r\ntwo\tthree"
    with pytest.raises(ValidationError):
        CategoryCreate(name="x", description="nul\x00")


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        (ProductSort.NAME, "Trail Runner ✓"),
        (ProductSort.PRICE, 0),
        (ProductSort.PRICE_DESC, 10**12),
        (ProductSort.NEWEST, datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_cursors_round_trip(sort: ProductSort, key: object) -> None:
    assert decode_cursor(encode_cursor(sort, key, PID), sort) == (key, PID)


def test_a_cursor_is_tied_to_its_sort() -> None:
    cursor = encode_cursor(ProductSort.PRICE, 100, PID)
    with pytest.raises(BadCursor, match="sort='price'"):
        decode_cursor(cursor, ProductSort.PRICE_DESC)


@pytest.mark.parametrize("cursor", ["", "x", "%%%", "W10", "bnVsbA"])
def test_garbage_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor, ProductSort.NAME)
