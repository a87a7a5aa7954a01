"""Count a shop's rows in every service's database, read from the databases themselves."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shopfleet.dev.multiprocess import MultiProcessPlatform
from shopfleet.platform import EmbeddedPlatform

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"  # the machine's, trust auth


def _count(conn: Connection, shop: str) -> int:
    meta = sa.MetaData()
    meta.reflect(conn)
    total = 0
    for table in meta.sorted_tables:
        if "shop" in table.c:
            where = table.c.shop == shop
        elif table.name == "shops" and "slug" in table.c:
            where = table.c.slug == shop
        else:
            continue
        query = sa.select(sa.func.count()).select_from(table).where(where)
        total += conn.execute(query).scalar_one()
    return total


def database_urls(platform: EmbeddedPlatform | MultiProcessPlatform) -> dict[str, str]:
    if isinstance(platform, EmbeddedPlatform):
        return {
            name: str(app.state.db.engine.url.render_as_string(hide_password=False))
            for name, app in platform.apps.items()
            if app.state.db is not None
        }
    return {name: p.database_url for name, p in platform.parts.items() if p.database_url}


async def rows_of_shop(
    platform: EmbeddedPlatform | MultiProcessPlatform, shop: str
) -> dict[str, int]:
    """Rows naming `shop` (a `shop` column, or a `shops` row's `slug`), by service."""
    return await rows_in(database_urls(platform), shop)


async def databases_named(prefix: str, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """This machine's PostgreSQL databases `<prefix><name>`, by name: their URLs."""
    engine = create_async_engine(f"{ADMIN_URL}/postgres")
    try:
        async with engine.connect() as conn:
            names = (
                await conn.execute(
                    sa.text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"),
                    {"p": prefix},
                )
            ).scalars()
            found = {n.removeprefix(prefix): f"{ADMIN_URL}/{n}" for n in names}
    finally:
        await engine.dispose()
    return {name: url for name, url in found.items() if name not in exclude}


async def rows_in(urls: dict[str, str], shop: str) -> dict[str, int]:
    counts = {}
    for name, url in sorted(urls.items()):
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                counts[name] = await conn.run_sync(_count, shop)
        finally:
            await engine.dispose()
    return counts
