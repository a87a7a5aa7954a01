"""The opaque cursors of catalog's pages, and their reading at the edge (a cursor we did
not issue is a 400 naming `query.cursor`).

The listing's: the sort, a fingerprint of the filters, and the last row's (sort key, id); a
cursor made for other filters or another sort is refused, not misread. The price
history's: the id of the last price shown.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from shopfleet.catalog.schemas import Sort
from shopfleet.kit.contracts.ids import PRODUCT_ID_PATTERN
from shopfleet.kit.cursors import pack_cursor, unpack_cursor
from shopfleet.kit.errors import field_problem
from shopfleet.kit.money import MAX_AMOUNT

_VERSION = 1
_ID = re.compile(PRODUCT_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class ListQuery:
    q: str | None = None
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    include_inactive: bool = False
    sort: Sort = Sort.NEWEST
    limit: int = 20
    cursor: str | None = None

    @property
    def text(self) -> str:
        """`q` as it is matched: trimmed and case-folded."""
        return (self.q or "").strip().casefold()

    def fingerprint(self) -> str:
        """Names the filters: a cursor is valid only for the filters it was made with."""
        raw = orjson.dumps(
            [
                self.text,
                self.category,
                self.min_price,
                self.max_price,
                self.in_stock,
                self.include_inactive,
            ]
        )
        return hashlib.blake2s(raw, digest_size=6).hexdigest()


def encode_cursor(query: ListQuery, key: Any, last_id: str) -> str:
    if isinstance(key, datetime):
        key = key.isoformat()
    return pack_cursor([_VERSION, query.sort.value, query.fingerprint(), key, last_id])


def _bad_cursor(message: str) -> Exception:
    return field_problem(400, "query.cursor", message, slug="bad-cursor")


def decode_cursor(query: ListQuery, cursor: str) -> tuple[Any, str]:
    """The (sort key, id) the previous page ended at; 400 for anything else."""
    try:
        version, sort, fingerprint, key, last_id = unpack_cursor(cursor)
        if version != _VERSION or not isinstance(last_id, str) or not _ID.match(last_id):
            raise ValueError("unknown cursor")
        if sort == query.sort.value and fingerprint == query.fingerprint():
            key = _parse_key(query.sort, key)
    except (ValueError, TypeError):
        raise _bad_cursor(
            "not a valid cursor: pass the next_cursor of the previous page unchanged, or omit "
            "it to start at the first page"
        ) from None
    if sort != query.sort.value or fingerprint != query.fingerprint():
        raise _bad_cursor(
            f"this cursor was made for another sort or filter (sort={sort}); send the same "
            "q, category, prices, in_stock, include_inactive and sort as for the first page, "
            "or omit the cursor to start again"
        )
    return key, last_id


def _parse_key(sort: Sort, key: Any) -> Any:
    if sort in (Sort.PRICE, Sort.PRICE_DESC):
        if type(key) is not int or not 0 <= key <= MAX_AMOUNT:
            raise ValueError("price key")
        return key
    if sort == Sort.NEWEST:
        stamp = datetime.fromisoformat(key)
        if stamp.tzinfo is None:
            raise ValueError("naive time")
        return stamp
    if not isinstance(key, str) or len(key) > 200 or "\x00" in key:
        raise ValueError("name key")
    return key


def encode_price_cursor(last_id: int) -> str:
    return pack_cursor(["p", last_id])


def decode_price_cursor(cursor: str | None) -> int | None:
    """The id of the last price of the page before; None: the first page."""
    if not cursor:
        return None
    try:
        kind, last_id = unpack_cursor(cursor)
        if kind != "p" or type(last_id) is not int or not 0 <= last_id < 2**62:
            raise ValueError(cursor)
        return last_id
    except ValueError:
        raise _bad_cursor(
            "not a valid cursor: pass the next_cursor of the previous page "
            "unchanged, or omit it to start at the first page"
        ) from None
