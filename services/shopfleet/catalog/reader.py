"""The listing's reads: one Core statement per shape, run by the kit's `FastReader`.

Each shape of listing (sort, which filters, whether a cursor) is one statement with bind
parameters, built and compiled once (see `shopfleet.kit.reads` for why and how).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from shopfleet.catalog.schemas import Sort
from shopfleet.catalog.store.categories import subtree
from shopfleet.kit.reads import FastReader


@dataclass(frozen=True, slots=True)
class Shape:
    """What decides a listing statement's text (the values are bind parameters)."""

    sort: Sort
    q: bool
    category: bool
    min_price: bool
    max_price: bool
    in_stock: bool
    include_inactive: bool
    after: bool


Builder = Callable[[Shape], sa.Select[Any]]


class ListingReader(FastReader):
    async def category_exists(self, shop: str, category: str) -> bool:
        async with self.db.reader() as session:
            return await subtree(session, shop, category) is not None
