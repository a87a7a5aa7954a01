"""The catalog's rules, with no I/O and no HTTP: what is for sale, how stock is reserved,
committed and released, what a product's slug, price and stock may be.

Each decision is a function of what was loaded. It raises a refusal (a `kit.refusals` kind;
the kit picks the HTTP status) when a rule refuses, or returns what to change. `store.py`
runs the SQL, `service` the use cases that load, decide and store.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shopfleet.kit.refusals import FieldConflict, InvalidRefusal, NotFoundRefusal, StateRefusal

# ----------------------------------------------------------------------------- refusals


class ProductNotFound(NotFoundRefusal):
    """No such product in this shop (another shop's product is simply not here)."""

    def __init__(self, shop: str, product_id: str) -> None:
        super().__init__(f"No product '{product_id}' in shop '{shop}'.")


class ProductDeleted(StateRefusal):
    default_slug = "product-deleted"

    def __init__(self, product_id: str) -> None:
        super().__init__(
            f"Product '{product_id}' was deleted; a deleted product cannot be changed."
        )


class ProductChanged(StateRefusal):
    """A concurrent change won a race this one lost (slug `conflict`)."""

    def __init__(self) -> None:
        super().__init__("The product was changed concurrently; retry.")


class ValueTaken(FieldConflict):
    """Another live product of the shop has this slug or SKU (slug `<name>-taken`)."""

    error_type = "conflict"

    def __init__(self, field: str, value: str) -> None:
        name = field.rsplit(".", 1)[-1]
        message = f"another product of this shop has the {name} '{value}'"
        super().__init__(
            field,
            message,
            detail=f"Fix this field: {field}: {message}; choose another.",
            slug=f"{name}-taken",
        )


class ProductsQuotaExceeded(StateRefusal):
    """The shop's `quotas.products` is reached (the kit's quota slug)."""

    default_slug = "quota-exceeded"


class StockBelowReserved(FieldConflict):
    default_slug = "stock-below-reserved"
    error_type = "conflict"


class ReservationNotFound(NotFoundRefusal):
    pass


class ReservationMismatch(StateRefusal):
    default_slug = "reservation-mismatch"


class ReservationNotReserved(StateRefusal):
    """Only a reserved reservation can be committed (slug `reservation-<status>`)."""


class TooManyImages(StateRefusal):
    default_slug = "too-many-images"


class ImageNotFound(NotFoundRefusal):
    pass


# ----------------------------------------------------------------------------- availability


class Stocked(Protocol):
    """What availability is decided from: a product, or a row with its columns."""

    @property
    def active(self) -> bool: ...
    @property
    def deleted_at(self) -> datetime | None: ...
    @property
    def on_hand(self) -> int: ...
    @property
    def reserved(self) -> int: ...


def available(product: Stocked) -> int:
    """Units a buyer can have now: nothing of an inactive or deleted product."""
    return units_available(
        product.active, product.deleted_at is not None, product.on_hand, product.reserved
    )


def units_available(active: bool, deleted: bool, on_hand: int, reserved: int) -> int:
    """`available` from the columns themselves (the fast read path has rows, not objects)."""
    if not active or deleted:
        return 0
    return max(0, on_hand - reserved)


def fell_low(before: int, after: int, threshold: int) -> bool:
    """Availability fell to or below the threshold, or ran out: worth a `stock.low`."""
    return after < before and (after <= threshold < before or after == 0)


def check_on_hand(on_hand: int, reserved: int) -> None:
    """On hand never goes below the units reserved for orders."""
    if on_hand < reserved:
        raise StockBelowReserved(
            "body.on_hand",
            f"must be at least {reserved}",
            detail=f"Cannot set on_hand to {on_hand}: {reserved} units are reserved for orders; "
            f"on_hand must be at least {reserved}.",
        )


# ----------------------------------------------------------------------------- reservations


class ReservationStatus(StrEnum):
    RESERVED = "reserved"  # units held for the order
    COMMITTED = "committed"  # paid: the units left the stock
    RELEASED = "released"  # cancelled: the units are for sale again
    REJECTED = "rejected"  # some line was short: nothing was held


@dataclass(frozen=True, slots=True)
class StockMove:
    """What one unit of a line does to a product's on-hand and reserved counts."""

    on_hand: int
    reserved: int

    def available_before(self, available_after: int, quantity: int) -> int:
        """Availability before this move of `quantity` units, from what it is after."""
        return available_after - (self.on_hand - self.reserved) * quantity


RESERVE = StockMove(on_hand=0, reserved=1)
COMMIT = StockMove(on_hand=-1, reserved=-1)  # the paid units leave the warehouse
UNRESERVE = StockMove(on_hand=0, reserved=-1)  # a reserved order is cancelled
RESTOCK = StockMove(on_hand=1, reserved=0)  # a paid, unshipped order is cancelled


def merged(lines: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """Quantities per product, in product-id order: the order rows are locked in, so two
    orders never wait on each other's rows."""
    total: Counter[str] = Counter()
    for line in lines:
        total[line["product_id"]] += line["quantity"]
    return sorted(total.items())


def check_same_lines(
    order_id: str, status: str, held: Iterable[Mapping[str, Any]], wanted: list[tuple[str, int]]
) -> None:
    """An order id reserves once: asked again, only with the same lines."""
    if merged(held) != wanted:
        raise ReservationMismatch(
            f"Order '{order_id}' already has a reservation ({status}) with other lines; "
            "an order id reserves once."
        )


def decide_commit(order_id: str, status: ReservationStatus) -> StockMove | None:
    """The order is paid: its units leave the stock. None: committed already."""
    if status == ReservationStatus.COMMITTED:
        return None
    if status != ReservationStatus.RESERVED:
        raise ReservationNotReserved(
            f"The reservation of order '{order_id}' is {status}; only a reserved one can be "
            "committed.",
            slug=f"reservation-{status}",
        )
    return COMMIT


def decide_release(status: ReservationStatus) -> StockMove | None:
    """The order is cancelled: reserved units stop being reserved, a paid order's go back on
    hand. None: nothing is held (released already, or rejected)."""
    if status in (ReservationStatus.RELEASED, ReservationStatus.REJECTED):
        return None
    return RESTOCK if status == ReservationStatus.COMMITTED else UNRESERVE


def shortages(
    short: list[tuple[str, int]], available_now: Mapping[str, int]
) -> list[dict[str, Any]]:
    """Per short line: what was asked and what is available now (0 for a product gone)."""
    return [
        {"product_id": pid, "requested": quantity, "available": available_now.get(pid, 0)}
        for pid, quantity in short
    ]


# ----------------------------------------------------------------------------- products


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:100].strip("-") or "product"


def free_slug(base: str, taken: Set[str]) -> str:
    """`base`, or `base-2`, `base-3`… whichever is not taken."""
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def check_currency(field: str, sells_in: str, given: str | None) -> None:
    """A price is in the shop's currency; naming another is a mistake, not a conversion."""
    if given is not None and given != sells_in:
        raise InvalidRefusal(field, f"this shop sells in {sells_in}, not {given}")


def check_categories_known(unknown: list[str]) -> None:
    if unknown:
        raise InvalidRefusal(
            "body.category_ids",
            f"unknown category {', '.join(repr(c) for c in unknown)} (no such category in "
            "this shop; create it with POST /categories first)",
        )


def check_products_quota(used: int, limit: int | None) -> None:
    """A shop has at most `quotas.products` live products."""
    if limit is not None and used >= limit:
        raise ProductsQuotaExceeded(
            f"This shop has {used} products and its quota (quotas.products) allows {limit}: "
            "delete a product, or raise the Shop's spec.quotas.products, to add another.",
            quota="products",
            limit=limit,
            used=used,
        )


def changed_fields(product: object, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `wanted` whose values differ from the product's."""
    return {key: value for key, value in wanted.items() if getattr(product, key) != value}


def check_image_room(count: int, most: int) -> None:
    if count >= most:
        raise TooManyImages(
            f"This product has {count} images, the most it may have; delete one first."
        )


def check_price_range(low: int | None, high: int | None) -> None:
    """The listing's price filter: a range that cannot hold anything is a mistake."""
    if low is not None and high is not None and low > high:
        raise InvalidRefusal("query.max_price", f"must not be below min_price ({low})")
