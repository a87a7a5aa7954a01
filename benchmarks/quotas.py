"""What a shop's quota and its purge cost in the catalog's database, by the shop's size.

    .venv/bin/python -m benchmarks.quotas [--sizes 100 1000 10000] [--repeat 200]
                                          [--backends sqlite postgresql]

For each size, a fresh catalog database (migrated; PostgreSQL on 127.0.0.1, dropped at the
end) gets that many live products of one shop. Measured:

- `quota check`: the transaction a product create adds when `quotas.products` is set
  (the shop's quota lock, then the count of its live products): median and p99 over
  `--repeat` runs;
- `purge`: `DELETE /internal/tenants/{shop}/data`'s work (every table, one transaction),
  once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from shopfleet.catalog.app import MIGRATIONS
from shopfleet.catalog.models import Product
from shopfleet.catalog.store.products import live_products
from shopfleet.kit.db import Database
from shopfleet.kit.quotas import lock_quota
from shopfleet.kit.tenant_data import purge_shop

SHOP = "bench"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _product(i: int, now: datetime) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "shop": SHOP,
        "name": f"P {i}",
        "name_key": f"p {i}",
        "slug": f"p-{i}",
        "description": "",
        "sku": f"SKU-{i}",
        "currency": "EUR",
        "price_amount": 1000 + i,
        "attributes": {},
        "active": True,
        "category_ids": [],
        "on_hand": 5,
        "reserved": 0,
        "low_stock_threshold": 5,
        "weight_grams": 0,
        "search_text": f"p {i}",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _rows(n: int) -> list[dict]:
    now = datetime.now(UTC)
    return [_product(i, now) for i in range(n)]


async def measure(url: str, size: int, repeat: int) -> tuple[float, float, float]:
    db = Database(url, service="catalog", migrations=MIGRATIONS)
    try:
        await db.migrate()
        table = Product.__table__  # type: ignore[attr-defined]
        rows = _rows(size)
        async with db.session() as session, session.begin():
            for start in range(0, size, 1000):
                await session.execute(sa.insert(table), rows[start : start + 1000])
        took = []
        for _ in range(repeat):
            began = time.perf_counter()
            async with db.session() as session, session.begin():
                await lock_quota(session, "products", SHOP)
                assert await live_products(session, SHOP) == size
            took.append(time.perf_counter() - began)
        began = time.perf_counter()
        deleted = await purge_shop(db, SHOP)
        purge_s = time.perf_counter() - began
        assert deleted == {"products": size}, deleted
        took.sort()
        return statistics.median(took), took[int(len(took) * 0.99) - 1], purge_s
    finally:
        await db.dispose()


async def postgres_url() -> tuple[str, str]:
    name = f"sf_bench_quotas_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main(sizes: list[int], repeat: int, backends: list[str]) -> None:
    table = Table("backend", "products", "quota check p50 ms", "p99 ms", "purge ms")
    for backend in backends:
        for size in sizes:
            if backend == "postgresql":
                name, url = await postgres_url()
                try:
                    p50, p99, purge_s = await measure(url, size, repeat)
                finally:
                    await drop(name)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite+aiosqlite:///{Path(tmp) / 'catalog.db'}"
                    p50, p99, purge_s = await measure(url, size, repeat)
            table.add_row(
                backend,
                f"{size:,}",
                f"{p50 * 1000:.2f}",
                f"{p99 * 1000:.2f}",
                f"{purge_s * 1000:.0f}",
            )
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.repeat, args.backends))
