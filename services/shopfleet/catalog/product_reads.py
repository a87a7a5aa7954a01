"""`GET /products/{id}` and the internal product lookup on the fast read path.

Like the listing (`listing.py`), each is one Core statement with bind parameters, compiled
once and run by the kit's `FastReader`; the answer is JSON built from the rows, never an
ORM object or a model validated again. The bytes are the ones `ProductPublic` and
`ProductLookupResult` serialize to (key order, `Z` for UTC, nulls), held to them by
`tests/integration/catalog/test_product_reads.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from shopfleet.catalog import domain
from shopfleet.catalog.models import IMAGES_TABLE, PRODUCTS_TABLE
from shopfleet.catalog.schemas import images_prefix
from shopfleet.catalog.store.stock import SNAPSHOT_COLUMNS
from shopfleet.kit.contracts.ids import PRODUCT_ID_PATTERN
from shopfleet.kit.db import NamedRow
from shopfleet.kit.reads import FastReader

P = PRODUCTS_TABLE.c

IMG = IMAGES_TABLE.c
_PRODUCT_COLUMNS = (
    P.id,
    P.name,
    P.slug,
    P.description,
    P.sku,
    P.currency,
    P.price_amount,
    P.compare_at_amount,
    P.attributes,
    P.active,
    P.category_ids,
    P.thumbnail_image_id,
    P.on_hand,
    P.reserved,
    P.low_stock_threshold,
    P.weight_grams,
    P.created_at,
    P.updated_at,
    P.deleted_at,
    P.version,
)
_IMAGE_COLUMNS = (
    IMG.id.label("image_id"),
    IMG.content_type.label("image_content_type"),
    IMG.width.label("image_width"),
    IMG.height.label("image_height"),
    IMG.size_bytes.label("image_size_bytes"),
    IMG.position.label("image_position"),
)
PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)
_JSON = orjson.OPT_UTC_Z  # pydantic writes an aware UTC datetime with `Z`, as this does


def product_statement(_key: object) -> sa.Select[Any]:
    """The product and its images (one row each; one row with null image columns if none)."""
    joined = PRODUCTS_TABLE.outerjoin(IMAGES_TABLE, IMG.product_id == P.id)
    return (
        sa.select(*_PRODUCT_COLUMNS, *_IMAGE_COLUMNS)
        .select_from(joined)
        .where(P.id == sa.bindparam("product_id"), P.shop == sa.bindparam("shop"))
        .order_by(IMG.position, IMG.id)
    )


def lookup_statement(key: tuple[str, int]) -> sa.Select[Any]:
    """Snapshots' columns of `key[1]` products (one statement per count of ids)."""
    ids: list[sa.BindParameter[str]] = [sa.bindparam(f"id_{n}") for n in range(key[1])]
    return sa.select(*SNAPSHOT_COLUMNS).where(P.shop == sa.bindparam("shop"), P.id.in_(ids))


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _image(prefix: str, row: NamedRow) -> dict[str, Any]:
    url = f"{prefix}{row['image_id']}"
    return {
        "id": row["image_id"],
        "url": f"{url}?size=full",
        "thumbnail_url": f"{url}?size=thumb",
        "content_type": row["image_content_type"],
        "width": row["image_width"],
        "height": row["image_height"],
        "size_bytes": row["image_size_bytes"],
        "position": row["image_position"],
    }


def product_json(shop: str, rows: Sequence[NamedRow], *, admin: bool) -> bytes:
    """`ProductPublic` of the product's rows (see `product_statement`) as JSON."""
    product, prefix = rows[0], images_prefix(shop)
    currency, compare_at = product["currency"], product["compare_at_amount"]
    thumb, deleted_at = product["thumbnail_image_id"], product["deleted_at"]
    on_hand, reserved = product["on_hand"], product["reserved"]
    answer = {
        "id": product["id"],
        "name": product["name"],
        "slug": product["slug"],
        "description": product["description"],
        "sku": product["sku"],
        "price": _money(product["price_amount"], currency),
        "compare_at": None if compare_at is None else _money(compare_at, currency),
        "attributes": product["attributes"],
        "active": bool(product["active"]),
        "deleted": deleted_at is not None,
        "category_ids": product["category_ids"],
        "images": [_image(prefix, row) for row in rows if row["image_id"] is not None],
        "thumbnail_url": f"{prefix}{thumb}?size=thumb" if thumb else None,
        "available": domain.units_available(
            product["active"], deleted_at is not None, on_hand, reserved
        ),
        "weight_grams": product["weight_grams"],
        "stock": {
            "on_hand": on_hand,
            "reserved": reserved,
            "available": on_hand - reserved,
            "low_stock_threshold": product["low_stock_threshold"],
        }
        if admin
        else None,
        "created_at": product["created_at"],
        "updated_at": product["updated_at"],
        "deleted_at": deleted_at,
        "version": product["version"],
    }
    return orjson.dumps(answer, option=_JSON)


async def read_product(reader: FastReader, shop: str, product_id: str, *, admin: bool) -> bytes:
    """The product as a caller reads it (stock levels for an admin), also a deleted one."""
    values = {"product_id": product_id, "shop": shop}
    rows = await reader.rows("product", product_statement, values)
    if not rows:
        raise domain.ProductNotFound(shop, product_id)
    return product_json(shop, rows, admin=admin)


def _snapshot(prefix: str, row: NamedRow) -> dict[str, Any]:
    active, deleted = bool(row["active"]), row["deleted_at"] is not None
    thumb = row["thumbnail_image_id"]
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "sku": row["sku"],
        "price": _money(row["price_amount"], row["currency"]),
        "available": domain.units_available(active, deleted, row["on_hand"], row["reserved"]),
        "active": active and not deleted,
        "image_url": f"{prefix}{thumb}?size=thumb" if thumb else None,
        "weight_grams": row["weight_grams"],
    }


async def lookup(reader: FastReader, shop: str, ids: Sequence[str]) -> bytes:
    """`ProductLookupResult` as JSON: snapshots in the order asked, deleted ones inactive,
    unknown ones (and ids that cannot be a product's) missing."""
    asked = list(dict.fromkeys(ids))
    wanted = [i for i in asked if PRODUCT_ID.fullmatch(i)]
    found: dict[str, NamedRow] = {}
    if wanted:
        values: dict[str, Any] = {f"id_{n}": i for n, i in enumerate(wanted)}
        values["shop"] = shop
        rows = await reader.rows(("lookup", len(wanted)), lookup_statement, values)
        found = {row["id"]: row for row in rows}
    prefix = images_prefix(shop)
    items = [_snapshot(prefix, found[i]) for i in wanted if i in found]
    missing = [i for i in asked if i not in found]
    return orjson.dumps({"items": items, "missing": missing}, option=_JSON)
