"""`GET /categories` from memory: each shop's tree as JSON, kept while it is unchanged.

Every read asks the database one cheap question on the kit's fast read path (`FastReader`):
the tree's revision, which every write bumps, and the newest `updated_at` of its categories.
An entry answers only while both are what they were when it was built, so a write is seen
by the next read in any replica, with no invalidation to miss. The newest `updated_at` is
there for a purged shop: its revision starts again from 0, but its new categories are all
newer than any it had before (and an empty tree reads the same whoever built it).

The JSON is what FastAPI makes of the `CategoryTree` the ORM path returns (pydantic's
JSON of it), built once per version of the tree.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter

from shopfleet.categories import service
from shopfleet.categories.models import CategoryTree
from shopfleet.categories.store import categories_table, trees_table
from shopfleet.kit.db import Database
from shopfleet.kit.reads import FastReader

# The tree's revision and its newest `updated_at` (only ever compared for equality).
Version = tuple[int, object]
_TREE_JSON = TypeAdapter(CategoryTree)  # how FastAPI writes a returned model (0.165)
MAX_SHOPS = 512  # trees held; the least recently read goes first


def version_statement(_key: object) -> sa.Select[Any]:
    shop: sa.BindParameter[str] = sa.bindparam("shop")
    revision = sa.select(trees_table.c.revision).where(trees_table.c.shop == shop)
    newest = sa.select(sa.func.max(categories_table.c.updated_at)).where(
        categories_table.c.shop == shop
    )
    return sa.select(
        revision.scalar_subquery().label("revision"),
        newest.scalar_subquery().label("newest"),
    )


class TreeCache:
    def __init__(self, db: Database, reader: FastReader, *, max_shops: int = MAX_SHOPS) -> None:
        self.db, self.reader, self.max_shops = db, reader, max_shops
        self._trees: OrderedDict[str, tuple[Version, bytes]] = OrderedDict()

    async def version(self, shop: str) -> Version:
        [row] = await self.reader.rows("tree-version", version_statement, {"shop": shop})
        return int(row["revision"] or 0), row["newest"]

    async def tree_json(self, shop: str, version: Version) -> bytes:
        """The tree as JSON: of `version` if held, else loaded now (at least as new)."""
        held = self._trees.get(shop)
        if held is not None and held[0] == version:
            self._trees.move_to_end(shop)
            return held[1]
        async with self.db.reader() as session:
            tree = await service.get_tree(session, shop)
        body = _TREE_JSON.dump_json(tree, by_alias=True)
        if await self.version(shop) == version:  # else changed while loading: keep nothing
            self._trees[shop] = (version, body)
            self._trees.move_to_end(shop)
            while len(self._trees) > self.max_shops:
                self._trees.popitem(last=False)
        return body

    def forget(self, shop: str) -> None:
        self._trees.pop(shop, None)
