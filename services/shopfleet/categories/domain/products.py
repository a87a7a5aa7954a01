"""The products projection's rules: what of catalog's events categories can keep, and the
listing's sort orders and cursors. Pure: the store applies what these return.

Events may come again or out of order: each carries the product's version, and the store
changes a row only when an event is newer than what it holds. A deleted product stays as
a tombstone with its version, so an older update that arrives late cannot bring it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shopfleet.kit.contracts.events import ProductDeleted, ProductUpdated
from shopfleet.kit.contracts.ids import CATEGORY_ID_PATTERN, PRODUCT_ID_PATTERN
from shopfleet.kit.cursors import pack_cursor, unpack_cursor

_PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)
_CATEGORY_ID = re.compile(CATEGORY_ID_PATTERN)
_BIGINT = 2**63 - 1
MAX_SHOP = 40
MAX_TEXT = 255


class BadProductEvent(ValueError):
    """An event that can never apply (the consumer drops it)."""


@dataclass(frozen=True, slots=True)
class ProjectedProduct:
    """A `category_products` row as an event makes it."""

    shop: str
    product_id: str
    name: str
    slug: str
    price_amount: int
    currency: str
    active: bool
    available: int
    created_at: datetime
    version: int
    deleted: bool
    projected_at: datetime


def storable(text: str) -> bool:
    """Text a database can hold: valid UTF-8 (no lone surrogates) and no NUL."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _check_ids(shop: str, product_id: str, version: int) -> None:
    if not shop or len(shop) > MAX_SHOP or not storable(shop):
        raise BadProductEvent(f"the event names no valid shop ({shop!r})")
    if not _PRODUCT_ID.fullmatch(product_id):
        raise BadProductEvent(f"not a product id: {product_id!r}")
    if not 0 <= version <= _BIGINT:
        raise BadProductEvent(f"not a version: {version}")


def _created_at(event: ProductUpdated) -> datetime:
    """`created_at` in UTC; a time without an offset is taken as UTC."""
    created = event.created_at
    try:
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise BadProductEvent(f"created_at out of range: {created}") from None


def product_of(shop: str, event: ProductUpdated, *, now: datetime) -> ProjectedProduct:
    """The row `product.updated` makes; what the projection cannot hold, it refuses."""
    _check_ids(shop, event.product_id, event.version)
    texts = {"name": event.name, "slug": event.slug, "currency": event.currency}
    for field, text in texts.items():
        limit = 3 if field == "currency" else MAX_TEXT
        if len(text) > limit or not storable(text):
            raise BadProductEvent(f"{field} is not text the projection can keep: {text!r:.80}")
    for field, number in (("price_amount", event.price_amount), ("available", event.available)):
        if abs(number) > _BIGINT:
            raise BadProductEvent(f"{field} out of range: {number}")
    return ProjectedProduct(
        shop=shop,
        product_id=event.product_id,
        name=event.name,
        slug=event.slug,
        price_amount=event.price_amount,
        currency=event.currency,
        active=event.active,
        available=event.available,
        created_at=_created_at(event),
        version=event.version,
        deleted=False,
        projected_at=now,
    )


def tombstone_of(shop: str, event: ProductDeleted, *, now: datetime) -> ProjectedProduct:
    """The row `product.deleted` leaves: inactive, at the event's version."""
    _check_ids(shop, event.product_id, event.version)
    return ProjectedProduct(
        shop=shop,
        product_id=event.product_id,
        name="",
        slug="",
        price_amount=0,
        currency="",
        active=False,
        available=0,
        created_at=now,
        version=event.version,
        deleted=True,
        projected_at=now,
    )


def linkable(category_ids: list[str]) -> list[str]:
    """The well-formed category ids of an event, each once (the store keeps those that exist
    in the shop: an id we never issued links nothing)."""
    return sorted({c for c in category_ids if _CATEGORY_ID.fullmatch(c)})


# ----------------------------------------------------------------------------- listing


class ProductSort(StrEnum):
    NAME = "name"
    PRICE = "price"
    PRICE_DESC = "-price"
    NEWEST = "newest"


DESCENDING = frozenset({ProductSort.PRICE_DESC, ProductSort.NEWEST})

SortKey = str | int | datetime


class BadCursor(ValueError):
    pass


def encode_cursor(sort: ProductSort, key: SortKey, product_id: str) -> str:
    return pack_cursor(
        [sort.value, key.isoformat() if isinstance(key, datetime) else key, product_id]
    )


def _sort_key(sort: ProductSort, key: object) -> SortKey | None:
    """The key a cursor of `sort` holds, or None if no page of ours could have ended there."""
    if sort is ProductSort.NAME:
        return key if isinstance(key, str) and len(key) <= MAX_TEXT and storable(key) else None
    if sort is ProductSort.NEWEST:
        try:
            when = datetime.fromisoformat(key) if isinstance(key, str) else None
            ok = when is not None and when.tzinfo is not None and bool(when.astimezone(UTC))
        except (ValueError, OverflowError):
            return None
        return when if ok else None
    if isinstance(key, int) and not isinstance(key, bool) and abs(key) < 2**62:
        return key
    return None


def decode_cursor(cursor: str, sort: ProductSort) -> tuple[SortKey, str]:
    """The (sort key, product id) a page ended at; BadCursor for anything we did not issue."""
    try:
        issued_sort, key, product_id = unpack_cursor(cursor)
    except ValueError:
        raise BadCursor("not a cursor issued by this API") from None
    if issued_sort != sort.value:
        raise BadCursor(f"this cursor belongs to sort={issued_sort!r}, not sort={sort.value!r}")
    if not isinstance(product_id, str) or not _PRODUCT_ID.fullmatch(product_id):
        raise BadCursor("not a cursor issued by this API")
    value = _sort_key(sort, key)
    if value is None:
        raise BadCursor("not a cursor issued by this API")
    return value, product_id
