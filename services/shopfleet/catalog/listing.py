"""`GET /products`: filters, sorts and keyset pagination on SQLAlchemy Core.

The hot read path. It selects only the columns a list item shows (no ORM objects), walks
the index that fits the sort — (shop, created_at, id), (shop, price_amount, id) or
(shop, name_key, id) — from the cursor's position, and finds a category's sub-tree in
the same statement (a recursive CTE over the category projection). Each combination of
filters is one Core statement with bind parameters, built once (`reader`).
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from shopfleet.catalog.cursors import ListQuery, decode_cursor, encode_cursor
from shopfleet.catalog.domain import check_price_range
from shopfleet.catalog.models import PRODUCTS_TABLE
from shopfleet.catalog.reader import ListingReader, Shape
from shopfleet.catalog.schemas import Sort, images_prefix
from shopfleet.catalog.store.categories import LINKS, subtree_cte
from shopfleet.kit.refusals import InvalidRefusal

__all__ = ["ListQuery", "build_statement", "list_products"]

P = PRODUCTS_TABLE.c
_ITEM_COLUMNS = (
    P.id,
    P.name,
    P.slug,
    P.currency,
    P.price_amount,
    P.compare_at_amount,
    P.thumbnail_image_id,
    P.on_hand,
    P.reserved,
    P.active,
    # As JSON text, put into the answer as it is (orjson.Fragment), never parsed.
    sa.cast(P.category_ids, sa.Text).label("category_ids"),
)
# sort -> (key column, descending?)
ORDER: dict[Sort, tuple[sa.Column[Any], bool]] = {
    Sort.NEWEST: (P.created_at, True),
    Sort.PRICE: (P.price_amount, False),
    Sort.PRICE_DESC: (P.price_amount, True),
    Sort.NAME: (P.name_key, False),
    Sort.NAME_DESC: (P.name_key, True),
}


def _escape_like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def shape_of(query: ListQuery) -> Shape:
    return Shape(
        sort=query.sort,
        q=bool(query.text),
        category=query.category is not None,
        min_price=query.min_price is not None,
        max_price=query.max_price is not None,
        in_stock=query.in_stock,
        include_inactive=query.include_inactive,
        after=query.cursor is not None,
    )


def build_statement(shape: Shape) -> sa.Select[Any]:
    """The Core statement of one shape; its values are bind parameters (see `params`)."""
    key, descending = ORDER[shape.sort]
    columns = _ITEM_COLUMNS if key is P.price_amount else (*_ITEM_COLUMNS, key)
    stmt = sa.select(*columns).where(P.shop == sa.bindparam("shop"), P.deleted_at.is_(None))
    if not shape.include_inactive:
        stmt = stmt.where(P.active.is_(True))
    if shape.q:  # a substring; % _ and / in q are escaped (matched literally)
        stmt = stmt.where(P.search_text.like(sa.bindparam("q"), escape="/"))
    if shape.min_price:
        stmt = stmt.where(P.price_amount >= sa.bindparam("min_price"))
    if shape.max_price:
        stmt = stmt.where(P.price_amount <= sa.bindparam("max_price"))
    if shape.in_stock:
        stmt = stmt.where(P.on_hand - P.reserved > 0)
    if shape.category:
        tree = subtree_cte(sa.bindparam("shop"), sa.bindparam("category"))
        links = LINKS.c
        in_tree = sa.select(links.product_id).where(
            links.shop == sa.bindparam("shop"), links.category_id.in_(sa.select(tree.c.id))
        )
        stmt = stmt.where(P.id.in_(in_tree))
    if shape.after:
        after = sa.bindparam("after", type_=key.type)
        after_id: sa.BindParameter[str] = sa.bindparam("after_id")
        if descending:  # the bound on the key alone lets the index seek; the OR breaks ties
            stmt = stmt.where(key <= after, sa.or_(key < after, P.id < after_id))
        else:
            stmt = stmt.where(key >= after, sa.or_(key > after, P.id > after_id))
    order = (key.desc(), P.id.desc()) if descending else (key, P.id)
    return stmt.order_by(*order).limit(sa.bindparam("limit"))


def params(shop: str, query: ListQuery) -> dict[str, Any]:
    values: dict[str, Any] = {"shop": shop, "limit": query.limit + 1}
    if query.text:
        values["q"] = f"%{_escape_like(query.text)}%"
    if query.min_price is not None:
        values["min_price"] = query.min_price
    if query.max_price is not None:
        values["max_price"] = query.max_price
    if query.category is not None:
        values["category"] = query.category
    if query.cursor:
        values["after"], values["after_id"] = decode_cursor(query, query.cursor)
    return values


async def list_products(reader: ListingReader, shop: str, query: ListQuery) -> bytes:
    """A page as JSON: `{items, next_cursor}`."""
    check_price_range(query.min_price, query.max_price)
    values = params(shop, query)  # a bad cursor is a 400 before any query runs
    rows = await reader.rows(shape_of(query), build_statement, values)
    if (
        not rows
        and query.category is not None
        and not await reader.category_exists(shop, query.category)
    ):
        raise InvalidRefusal("query.category", f"no category '{query.category}' in this shop")
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    prefix = images_prefix(shop)
    items = [
        {
            "id": r["id"],
            "name": r["name"],
            "slug": r["slug"],
            "price": {"amount": r["price_amount"], "currency": r["currency"]},
            "compare_at": None
            if r["compare_at_amount"] is None
            else {"amount": r["compare_at_amount"], "currency": r["currency"]},
            "thumbnail_url": f"{prefix}{r['thumbnail_image_id']}?size=thumb"
            if r["thumbnail_image_id"]
            else None,
            "available": max(0, r["on_hand"] - r["reserved"]) if r["active"] else 0,
            "active": bool(r["active"]),
            "category_ids": orjson.Fragment(r["category_ids"]),
        }
        for r in rows
    ]
    next_cursor = None
    if more:
        key, _ = ORDER[query.sort]
        last = rows[-1]
        next_cursor = encode_cursor(query, last[key.name], last["id"])
    return orjson.dumps({"items": items, "next_cursor": next_cursor})
