"""What the products projection keeps of catalog's events, and what it refuses to keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shopfleet.categories.domain.products import (
    BadProductEvent,
    linkable,
    product_of,
    tombstone_of,
)
from shopfleet.kit.contracts.events import ProductDeleted, ProductUpdated

PID = "0f8fad5b-d9cb-469f-a165-70867728950e"
CID = "9b2c3a5e-1111-4c2b-9a1e-2f3c4d5e6f70"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def updated(**changes: Any) -> ProductUpdated:
    fields: dict[str, Any] = dict(
        product_id=PID,
        name="Trail Runner",
        slug="trail-runner",
        sku="TR-1",
        price_amount=12_900,
        currency="EUR",
        active=True,
        available=3,
        category_ids=[CID],
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        version=7,
    )
    return ProductUpdated.model_validate(fields | changes)


def test_an_update_becomes_the_row_a_listing_shows() -> None:
    row = product_of("s1", updated(), now=NOW)
    assert (row.shop, row.product_id, row.version, row.deleted) == ("s1", PID, 7, False)
    assert (row.name, row.price_amount, row.currency, row.available) == (
        "Trail Runner",
        12_900,
        "EUR",
        3,
    )
    assert row.projected_at == NOW


def test_times_are_kept_in_utc_and_a_naive_one_is_taken_as_utc() -> None:
    paris = timezone(timedelta(hours=2))
    aware = product_of("s1", updated(created_at=datetime(2026, 5, 1, 12, tzinfo=paris)), now=NOW)
    assert aware.created_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    naive = product_of("s1", updated(created_at=datetime(2026, 5, 1, 12)), now=NOW)
    assert naive.created_at == datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("shop", "changes", "why"),
    [
        ("", {}, "no valid shop"),
        ("s" * 41, {}, "no valid shop"),
        ("s1", {"product_id": "not a/product"}, "not a product id"),
        ("s1", {"version": -1}, "not a version"),
        ("s1", {"name": "x" * 256}, "name is not text"),
        ("s1", {"slug": "nul\x00"}, "slug is not text"),
        ("s1", {"currency": "EURO"}, "currency is not text"),
        ("s1", {"price_amount": 2**63}, "price_amount out of range"),
    ],
)
def test_what_the_projection_cannot_hold_is_refused(
    shop: str, changes: dict[str, Any], why: str
) -> None:
    with pytest.raises(BadProductEvent, match=why):
        product_of(shop, updated(**changes), now=NOW)


def test_a_delete_leaves_a_tombstone_at_its_version() -> None:
    tomb = tombstone_of("s1", ProductDeleted(product_id=PID, version=9), now=NOW)
    assert (tomb.deleted, tomb.active, tomb.version, tomb.product_id) == (True, False, 9, PID)
    with pytest.raises(BadProductEvent):
        tombstone_of("s1", ProductDeleted(product_id="../x", version=9), now=NOW)


def test_only_well_formed_category_ids_link_each_once() -> None:
    assert linkable([CID, "bad id", CID, ""]) == [CID]
