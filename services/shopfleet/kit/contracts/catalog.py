"""Catalog's service-to-service contract: product snapshots and stock reservations.

Served by catalog under `/internal/shops/{shop}/...` for service invocation only (the
gateway never routes there). Cart reads snapshots; orders reserves, commits, releases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shopfleet.kit.contracts.ids import ProductId
from shopfleet.kit.money import Money

MAX_LINE_QUANTITY = 999
LOOKUP_MAX_IDS = 100  # products in one lookup

LOOKUP_PATH = "/internal/shops/{shop}/products/lookup"  # POST ProductLookup -> ProductLookupResult
RESERVATION_PATH = "/internal/shops/{shop}/reservations/{order_id}"  # PUT reserve, DELETE release
COMMIT_PATH = "/internal/shops/{shop}/reservations/{order_id}/commit"  # POST


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductSnapshot(BaseModel):
    """A product as a buyer sees it now: price from the catalog, never from a client."""

    id: str
    name: str
    slug: str
    sku: str
    price: Money
    available: int = Field(description="Units on hand minus units reserved.")
    active: bool
    image_url: str | None = None
    weight_grams: int = Field(default=0, ge=0, description="Shipping weight of one unit.")


class ProductLookup(_Strict):
    ids: list[str] = Field(min_length=1, max_length=LOOKUP_MAX_IDS)


class ProductLookupResult(BaseModel):
    items: list[ProductSnapshot]
    missing: list[str] = Field(
        description="Ids unknown in this shop. Deleted products are not missing: they come back "
        "inactive with nothing available (orders may still refer to them)."
    )


class ReservationLine(_Strict):
    product_id: ProductId
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)


class ReserveRequest(_Strict):
    lines: list[ReservationLine] = Field(min_length=1, max_length=100)


class ReservationShortage(BaseModel):
    product_id: str
    requested: int
    available: int


class ReservationResult(BaseModel):
    """The outcome for one order id; asking again returns the same outcome."""

    order_id: str
    status: Literal["reserved", "committed", "released", "rejected"]
    lines: list[ReservationLine]
    shortages: list[ReservationShortage] = Field(
        default_factory=list, description="When rejected: each line that was short."
    )


# What a lookup answered, by product id: a product catalog does not know is absent.
Snapshots = Mapping[str, ProductSnapshot]


def sellable(snapshot: ProductSnapshot | None) -> bool:
    return snapshot is not None and snapshot.active
