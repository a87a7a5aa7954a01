"""A shop's data in one service: its usage against its quotas, and its deletion.

`DELETE PURGE_PATH` deletes every row of the service's database that belongs to the shop
(every table with a `shop` column, and the shop's own row in a `shops` table, keyed by
`slug`), after `before_delete` has removed what the rows point to (image files). The
tables are read from the database itself, so a table added later is purged too. Idempotent:
a second call deletes nothing and answers the same. The operator's finalizer calls it for
every service through the gateway (`deletionPolicy: Delete`) and `shopfleet shops purge`
for a retained shop; both with the platform credential.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from shopfleet.kit.auth import PlatformCaller
from shopfleet.kit.contracts.ids import SHOP_SLUG_PATTERN
from shopfleet.kit.db import Database

PURGE_PATH = "/internal/tenants/{shop}/data"  # DELETE -> PurgeResult
USAGE_PATH = "/internal/tenants/{shop}/usage"  # GET -> Usage (USAGE_SERVICES)
USAGE_SERVICES = ("catalog", "orders")
# The order the finalizer purges in: identity last, so the shop's admin still works
# (and the tenant still resolves) until everything else is gone.
# The cart keeps no rows: its state keys for the shop expire with their TTL.
PURGE_ORDER = (
    "catalog",
    "categories",
    "orders",
    "payments",
    "shipping",
    "notifications",
    "identity",
)

ShopSlug = Annotated[str, Path(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")]
BeforeDelete = Callable[[str], Awaitable[None]]  # the shop's slug


class PurgeResult(BaseModel):
    service: str
    shop: str
    deleted: dict[str, int] = Field(description="Rows deleted, by table (none: nothing left).")


class QuotaUsage(BaseModel):
    used: int
    limit: int | None = Field(description="None: no quota.")


class Usage(BaseModel):
    """A shop's usage against its quotas, as far as one service counts it."""

    products: QuotaUsage | None = None
    orders_today: QuotaUsage | None = Field(default=None, description="Since 00:00 UTC.")


def _shop_filter(table: sa.Table, shop: str) -> sa.ColumnElement[bool] | None:
    if "shop" in table.c:
        return table.c.shop == shop
    if table.name == "shops" and "slug" in table.c:
        return table.c.slug == shop
    return None


def _delete_rows(conn: Connection, shop: str) -> dict[str, int]:
    meta = sa.MetaData()
    meta.reflect(conn)
    deleted: dict[str, int] = {}
    for table in reversed(meta.sorted_tables):  # referencing tables before referenced ones
        where = _shop_filter(table, shop)
        if where is None:
            continue
        count = conn.execute(sa.delete(table).where(where)).rowcount
        if count:
            deleted[table.name] = count
    return deleted


async def purge_shop(db: Database, shop: str) -> dict[str, int]:
    """Delete the shop's rows from every table, in one transaction; rows by table."""
    async with db.session() as session, session.begin():
        conn = await session.connection()
        return await conn.run_sync(_delete_rows, shop)


def platform_router() -> APIRouter:
    return APIRouter(tags=["internal"], dependencies=[PlatformCaller])


def usage_router(count: Callable[[str], Awaitable[Usage]]) -> APIRouter:
    """The service's `GET USAGE_PATH` (platform credential): `count(shop)`."""
    router = platform_router()

    @router.get(USAGE_PATH)
    async def read_tenant_usage(shop: ShopSlug) -> Usage:
        """The shop's usage against its quotas, as this service counts it."""
        return await count(shop)

    return router


def purge_router(service: str, before_delete: BeforeDelete | None = None) -> APIRouter:
    """The service's `DELETE PURGE_PATH` (platform credential), on the app's database."""
    router = platform_router()

    @router.delete(PURGE_PATH)
    async def purge_tenant_data(shop: ShopSlug, request: Request) -> PurgeResult:
        """Delete everything this service keeps for the shop (idempotent)."""
        db: Database = request.app.state.db
        if before_delete is not None:
            await before_delete(shop)
        return PurgeResult(service=service, shop=shop, deleted=await purge_shop(db, shop))

    return router
