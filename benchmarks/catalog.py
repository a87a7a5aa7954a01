"""Catalog listing benchmark: `GET /products` (a page of 20 with a price filter, sorted by
price) over 10,000 products, on SQLite and on PostgreSQL, direct and through the gateway,
against the bare FastAPI endpoint measured in the same run.

    .venv/bin/python -m benchmarks.catalog [--duration 10] [--connections 64]
                                           [--backends sqlite postgresql] [--products 10000]

Each target runs in its own uvicorn process (one worker, uvloop, httptools) and `wrk`
loads it from one thread, as in `benchmarks.run`. The catalog's database is filled once
per backend (a fresh PostgreSQL database, dropped at the end). Targets:

- `bare`: the foundation's bare FastAPI JSON endpoint (the baseline of every ratio);
- `direct`: the catalog app alone, as `shopfleet serve catalog` runs it;
- `gateway`: the gateway forwarding to the catalog app over the in-process invoker, as in
  the embedded platform (`shopfleet up`), with its access log on and off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.run import ensure_wrk, free_port, parse_wrk

ROOT = Path(__file__).resolve().parents[1]
SHOP = "bench"
QUERY = "limit=20&min_price=50000&sort=price"
PATHS = {
    "bare": "/ping",
    "direct": f"/shops/{SHOP}/api/v1/products?{QUERY}",
    "gateway": f"/shops/{SHOP}/api/v1/products?{QUERY}",
}
LABELS = {
    "bare": "bare FastAPI JSON endpoint",
    "direct": "catalog app alone",
    "gateway": "gateway → catalog (in-process invoker)",
}
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
console = Console(width=150)


@dataclass
class Result:
    backend: str
    target: str
    access_log: bool
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


# ----------------------------------------------------------------------------- data


def _catalog_settings(database_url: str, data_dir: Path, *, access_log: bool = False):  # type: ignore[no-untyped-def]
    from shopfleet.catalog.settings import CatalogSettings
    from shopfleet.kit.settings import PlatformSettings

    platform = PlatformSettings(data_dir=data_dir, access_log=access_log, log_level="WARNING")
    return CatalogSettings(database_url=database_url, platform=platform)


async def fill(database_url: str, data_dir: Path, products: int) -> None:
    """Migrate the catalog's database and insert `products` products of one shop."""
    import sqlalchemy as sa

    from shopfleet.catalog.app import open_database
    from shopfleet.catalog.models import CategoryRow, Product, ProductCategory, ShopRow
    from shopfleet.catalog.models import name_key as key_of
    from shopfleet.catalog.models import search_text as text_of

    db = open_database(_catalog_settings(database_url, data_dir))
    await db.migrate()
    rng = random.Random(42)
    categories = [f"cat-{n}" for n in range(10)]
    start = datetime.now(UTC) - timedelta(days=365)
    async with db.session() as session, session.begin():
        await session.execute(
            sa.insert(ShopRow.__table__),  # type: ignore[attr-defined]
            [{"slug": SHOP, "display_name": "Bench", "currency": "EUR", "updated_at": start}],
        )
        await session.execute(
            sa.insert(CategoryRow.__table__),  # type: ignore[attr-defined]
            [
                {
                    "shop": SHOP,
                    "id": c,
                    "parent_id": None,
                    "slug": c,
                    "version": 1,
                    "deleted": False,
                    "updated_at": start,
                }
                for c in categories
            ],
        )
        for first in range(0, products, 1000):
            rows, links = [], []
            for n in range(first, min(first + 1000, products)):
                pid, name = str(uuid.UUID(int=rng.getrandbits(128))), f"Product {n:05d}"
                category = rng.choice(categories)
                description = f"A fine product, number {n}, for benchmarks."
                stamp = start + timedelta(seconds=n * 60)
                rows.append(
                    {
                        "id": pid,
                        "shop": SHOP,
                        "name": name,
                        "name_key": key_of(name),
                        "slug": f"product-{n:05d}",
                        "description": description,
                        "sku": f"SKU-{n:05d}",
                        "currency": "EUR",
                        "price_amount": rng.randrange(100, 100_000),
                        "compare_at_amount": None,
                        "attributes": {"n": str(n)},
                        "active": True,
                        "category_ids": [category],
                        "thumbnail_image_id": None,
                        "on_hand": rng.randrange(0, 50),
                        "reserved": 0,
                        "low_stock_threshold": 5,
                        "search_text": text_of(name, description, f"SKU-{n:05d}"),
                        "created_at": stamp,
                        "updated_at": stamp,
                        "deleted_at": None,
                        "version": 1,
                    }
                )
                links.append({"product_id": pid, "category_id": category, "shop": SHOP})
            await session.execute(sa.insert(Product.__table__), rows)  # type: ignore[attr-defined]
            await session.execute(sa.insert(ProductCategory.__table__), links)  # type: ignore[attr-defined]
    async with db.engine.connect() as conn:
        await conn.execute(sa.text("ANALYZE"))
        await conn.commit()
    await db.dispose()


async def create_database(backend: str, data_dir: Path) -> str:
    """A database URL for the backend: a SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{data_dir / 'catalog.db'}"
    import asyncpg

    name = f"sf_bench_catalog_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


# ----------------------------------------------------------------------------- serving


def catalog_app(database_url: str, data_dir: Path, name: str):  # type: ignore[no-untyped-def]
    """The catalog app on local blocks (its pub/sub declared, never started)."""
    from shopfleet.catalog.app import create_app
    from shopfleet.kit.blocks import Blocks
    from shopfleet.kit.blocks.local import LocalPubSub
    from shopfleet.kit.blocks.local.invoker import LocalInvoker
    from tests.support.tokens import TokenMint

    pubsub = LocalPubSub(data_dir / f"pubsub-{name}.db")
    blocks = Blocks(state=None, pubsub=pubsub, invoker=LocalInvoker(), secrets=None)  # type: ignore[arg-type]
    mint = TokenMint()
    app = create_app(_catalog_settings(database_url, data_dir), blocks, verifier=mint.verifier())
    return app, blocks, mint


def build(target: str, database_url: str, data_dir: Path, access_log: bool, ready: Path):  # type: ignore[no-untyped-def]
    """The ASGI app of one target, wrapped to run its lifespan and signal readiness."""
    from benchmarks import targets
    from benchmarks.serve import WithLifespan

    def signal() -> None:
        ready.write_text("ready")

    if target == "bare":

        @asynccontextmanager
        async def nothing() -> AsyncIterator[None]:
            yield

        return WithLifespan(targets.bare_app(), nothing, signal)

    catalog, blocks, mint = catalog_app(database_url, data_dir, target)
    if target == "direct":
        return WithLifespan(catalog, lambda: catalog.router.lifespan_context(catalog), signal)

    from shopfleet.gateway.app import Gateway
    from shopfleet.gateway.routes import RouteFile
    from shopfleet.kit.contracts.routes import Route

    settings = targets.gateway_settings(data_dir, access_log=access_log)
    RouteFile(settings.resolved_routes_file()).put(SHOP, Route())
    blocks.invoker.register("catalog", catalog)  # type: ignore[attr-defined]
    gateway = Gateway(settings, blocks, services=frozenset({"catalog"}), verifier=mint.verifier())

    @asynccontextmanager
    async def both() -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(catalog.router.lifespan_context(catalog))
            platform = gateway.platform_app
            await stack.enter_async_context(platform.router.lifespan_context(platform))
            yield

    return WithLifespan(gateway, both, signal)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from shopfleet.kit.telemetry import configure_logging

    configure_logging("WARNING", "json")
    app = build(args.target, args.database_url, args.data_dir, args.access_log, args.ready_file)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        workers=1,
    )


# ----------------------------------------------------------------------------- driving


def measure(
    wrk: str,
    backend: str,
    target: str,
    database_url: str,
    data_dir: Path,
    *,
    access_log: bool,
    duration: int,
    connections: int,
) -> Result:
    port = free_port()
    ready = Path(tempfile.mkstemp(prefix="bench-ready-")[1])
    ready.unlink()
    command = [
        sys.executable,
        "-m",
        "benchmarks.catalog",
        "serve",
        target,
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--data-dir",
        str(data_dir),
        "--ready-file",
        str(ready),
    ]
    if access_log:
        command.append("--access-log")
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                error = server.stderr.read().decode()[-2000:] if server.stderr else ""
                sys.exit(f"the {target} server did not start: {error}")
            time.sleep(0.1)
        time.sleep(0.3)
        url = f"http://127.0.0.1:{port}{PATHS[target]}"
        subprocess.run([wrk, "-t1", "-c16", "-d2s", url], check=True, capture_output=True)
        run = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
            check=True,
            capture_output=True,
            text=True,
        )
        rps, p50, p99, errors = parse_wrk(run.stdout)
        return Result(backend, target, access_log, rps, p50, p99, errors)
    finally:
        server.terminate()
        server.wait(timeout=30)
        ready.unlink(missing_ok=True)


def check_answer(database_url: str, data_dir: Path) -> int:
    """The page the benchmark asks for, once, in process: 20 items, all ≥ min_price."""
    import httpx

    async def ask() -> int:
        catalog, _, _ = catalog_app(database_url, data_dir, "check")
        async with catalog.router.lifespan_context(catalog):
            transport = httpx.ASGITransport(catalog)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                answer = await client.get(PATHS["direct"])
        answer.raise_for_status()
        items = answer.json()["items"]
        assert len(items) == 20 and all(i["price"]["amount"] >= 50000 for i in items)
        return len(answer.content)

    return asyncio.run(ask())


def run_backend(backend: str, args: argparse.Namespace, wrk: str) -> list[Result]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"shopfleet-bench-catalog-{backend}-"))
    url = asyncio.run(create_database(backend, data_dir))
    try:
        with console.status(f"{backend}: filling {args.products:,} products…"):
            asyncio.run(fill(url, data_dir, args.products))
        console.print(f"{backend}: a page is {check_answer(url, data_dir):,} bytes of JSON")
        results = []
        for name in args.targets:
            target, access_log = name.removesuffix("-log"), name.endswith("-log")
            with console.status(f"{backend}: measuring {target}…"):
                results.append(
                    measure(
                        wrk,
                        backend,
                        target,
                        url,
                        data_dir,
                        access_log=access_log,
                        duration=args.duration,
                        connections=args.connections,
                    )
                )
        return results
    finally:
        asyncio.run(drop_database(url))


def run(args: argparse.Namespace) -> None:
    wrk = ensure_wrk()
    results = [r for backend in args.backends for r in run_backend(backend, args, wrk)]
    table = Table(
        title=f"catalog listing: GET /products?{QUERY} over {args.products:,} products, "
        f"{args.connections} connections, {args.duration} s per target, 1 uvicorn worker"
    )
    for column in (
        "backend",
        "target",
        "access log",
        "req/s",
        "× bare",
        "p50 ms",
        "p99 ms",
        "errors",
    ):
        table.add_column(column, justify="left" if column in ("backend", "target") else "right")
    for r in results:
        bare = next(
            (b.requests_per_s for b in results if b.backend == r.backend and b.target == "bare"),
            None,
        )
        log = "-" if r.target != "gateway" else ("on" if r.access_log else "off")
        table.add_row(
            r.backend,
            LABELS[r.target],
            log,
            f"{r.requests_per_s:,.0f}",
            f"{r.requests_per_s / bare:.2f}×" if bare else "-",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
        )
    console.print(table)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"catalog-{stamp}.json").write_text(json.dumps([asdict(r) for r in results], indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="serve one target (used by the driver)")
    server.add_argument("target", choices=list(PATHS))
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--database-url", required=True)
    server.add_argument("--data-dir", type=Path, required=True)
    server.add_argument("--ready-file", type=Path, required=True)
    server.add_argument("--access-log", action="store_true")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per target")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument(
        "--targets",
        nargs="*",
        default=["bare", "direct", "gateway-log", "gateway"],
        choices=["bare", "direct", "gateway-log", "gateway"],
        help="in this order; gateway-log: the gateway with its access log on",
    )
    parser.add_argument(
        "--backends", nargs="*", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
