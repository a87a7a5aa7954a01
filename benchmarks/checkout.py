"""Complete checkouts per second through the embedded platform, Stripe emulator included.

`python -m benchmarks.checkout [--shoppers 64] [--duration 20] [--rate R]`

One run measures, on the same machine and the same driver:

- **baseline**: a bare FastAPI endpoint (`benchmarks.serve bare`), requests/s with as many
  concurrent clients as shoppers;
- **checkout**: `shopfleet up` (its own process, as a developer runs it; the Stripe
  emulator is its child process). Each simulated shopper loops: put a product in the cart,
  `POST /orders`, `POST /payments/intents` (with a test card), `POST /payments/{id}/confirm`,
  then waits until the emulator's signed webhook has made the order `paid` (polling
  `GET /orders/{id}` every `--poll-s`; `fulfilling` and later count as paid too, since the
  shipment moves a paid order on). A checkout counts when its order is paid within the
  measured window; its latency runs from `POST /orders` to that moment.

With `--rate R` the load is open instead: checkouts are scheduled at R per second in all and
each free shopper takes the next, so p50/p99 are measured at a chosen load, not at
saturation (where a closed loop's latency is just shoppers ÷ throughput).

CPU is read from /proc for the platform process and for the emulator apart, over the
measured window, so the emulator's share is reported on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.load import Tally, Worker, measure_bare, percentiles, run_for
from benchmarks.procs import children, copy_logs, cpu_seconds, shopfleet_up, temp_dir
from benchmarks.shoppers import Shop, checkout, prepare

console = Console(stderr=True)


def checkout_worker(
    shopper: Shop, address_id: str, product_ids: list[str], poll_s: float
) -> Callable[[Tally], Awaitable[None]]:
    async def worker(tally: Tally) -> None:
        try:
            seconds = await checkout(shopper, address_id, product_ids, poll_s)
            # Every checkout that completes in the window counts (throughput = completions
            # per second): counting only those that also started in it missed most of them
            # once latency neared the window's length.
            if tally.measuring:
                tally.latencies_ms.append(seconds * 1000)
        except Exception as exc:  # counted and shown, never hidden
            tally.error(str(exc)[:120])
            await asyncio.sleep(0.1)

    return worker


LATE_S = 0.1


@contextlib.asynccontextmanager
async def paced(workers: list[Worker], rate: float) -> AsyncIterator[list[Worker]]:
    """Open-loop load: checkouts are scheduled at `rate` per second in all (evenly spaced)
    and each free shopper takes the next one, so latency is measured at a load chosen
    beforehand rather than at whatever a closed loop of shoppers saturates at (where
    latency only says how many shoppers wait: Little's law). A checkout that starts more
    than LATE_S after its scheduled time counts as late: the platform fell behind."""
    schedule: asyncio.Queue[float] = asyncio.Queue()

    async def produce() -> None:
        start, n = time.perf_counter(), 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            schedule.put_nowait(start + n / rate)

    def wrap(inner: Worker) -> Worker:
        async def worker(tally: Tally) -> None:
            try:
                due = await asyncio.wait_for(schedule.get(), 0.5)
            except TimeoutError:
                return  # nothing due yet: run_for's loop asks again, or stops
            if tally.measuring and time.perf_counter() - due > LATE_S:
                tally.late += 1
            await inner(tally)

        return worker

    producer = asyncio.create_task(produce())
    try:
        yield [wrap(w) for w in workers]
    finally:
        producer.cancel()


@dataclass
class CheckoutResult:
    per_s: float
    p50_ms: float
    p99_ms: float
    completed: int
    errors: dict[str, int]
    platform_cpu_s: float
    emulator_cpu_s: float
    elapsed_s: float
    late: int


@contextlib.asynccontextmanager
async def service_databases(args: argparse.Namespace) -> AsyncIterator[dict[str, str]]:
    """With --postgresql: a PostgreSQL database per service for this run, dropped after.
    Otherwise nothing: each service keeps its SQLite file in the data dir."""
    if not args.postgresql:
        yield {}
        return
    from shopfleet.dev.databases import drop_databases, ensure_database
    from shopfleet.serve import migrations_dir
    from shopfleet.services import SERVICES

    tag = f"bench_co_{os.getpid()}"
    names = {n: f"{tag}_{n}" for n in SERVICES if migrations_dir(n) is not None}
    urls = {n: await ensure_database(args.pg_admin_dsn, db) for n, db in names.items()}
    try:
        # Each service opens up to 5 × its pool (writer, reader, overflow, fast reads): with
        # the default pool (10) eight services ask PostgreSQL for more than its 100 clients.
        pools = {f"SHOPFLEET_{n.upper()}_DB_POOL_SIZE": str(args.pg_pool_size) for n in urls}
        yield {f"SHOPFLEET_{n.upper()}_DATABASE_URL": url for n, url in urls.items()} | pools
    finally:
        await drop_databases(args.pg_admin_dsn, list(names.values()))


async def measure_checkout(args: argparse.Namespace, tmp: Path) -> CheckoutResult:
    async with service_databases(args) as database_env:
        return await _measure_checkout(args, tmp, database_env)


async def _measure_checkout(
    args: argparse.Namespace, tmp: Path, database_env: dict[str, str]
) -> CheckoutResult:
    env = {
        **database_env,
        "SHOPFLEET_ACCESS_LOG": os.environ.get("BENCH_ACCESS_LOG", "false"),
        "SHOPFLEET_LOG_FORMAT": "json",
        "SHOPFLEET_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }
    async with shopfleet_up(tmp, env, connections=args.shoppers * 2) as up:
        console.print("[dim]preparing shoppers …[/]")
        people, product_ids = await prepare(up.session, up.data_dir, args.shoppers, "co")
        workers = [checkout_worker(p, a, product_ids, args.poll_s) for p, a in people]
        marks: dict[bool, tuple[float, float]] = {}

        def window(start: bool) -> None:
            emulators = children(up.proc.pid)
            marks[start] = (cpu_seconds(up.proc.pid), sum(cpu_seconds(pid) for pid in emulators))

        load = f"{args.rate:g} checkouts/s offered" if args.rate else "closed loop"
        console.print(
            f"[dim]measuring {args.duration} s with {args.shoppers} shoppers ({load}) …[/]"
        )
        if args.rate:
            async with paced(workers, args.rate) as workers:
                tally, elapsed = await run_for(args.duration, workers, args.warmup, window)
        else:
            tally, elapsed = await run_for(args.duration, workers, args.warmup, window)
    p50, p99 = percentiles(tally.latencies_ms)
    return CheckoutResult(
        per_s=len(tally.latencies_ms) / elapsed,
        p50_ms=p50,
        p99_ms=p99,
        completed=len(tally.latencies_ms),
        errors=tally.errors,
        platform_cpu_s=marks[False][0] - marks[True][0],
        emulator_cpu_s=marks[False][1] - marks[True][1],
        elapsed_s=elapsed,
        late=tally.late,
    )


def report(bare_per_s: float, result: CheckoutResult, args: argparse.Namespace) -> None:
    load = f", {args.rate:g}/s offered" if args.rate else ", closed loop"
    load += ", PostgreSQL" if args.postgresql else ", SQLite"
    table = Table(title=f"Complete checkouts, {args.shoppers} concurrent shoppers{load}")
    for column in ("what", "per s", "× bare", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right" if column != "what" else "left")
    table.add_row("bare FastAPI endpoint (req)", f"{bare_per_s:,.0f}", "1.00×", "", "", "")
    table.add_row(
        "checkout (order+intent+confirm+webhook)",
        f"{result.per_s:,.1f}",
        f"{result.per_s / bare_per_s:.4f}×",
        f"{result.p50_ms:.0f}",
        f"{result.p99_ms:.0f}",
        str(sum(result.errors.values())),
    )
    Console().print(table)
    total = result.platform_cpu_s + result.emulator_cpu_s
    Console().print(
        f"CPU over {result.elapsed_s:.1f} s: platform {result.platform_cpu_s:.1f} s, "
        f"Stripe emulator {result.emulator_cpu_s:.1f} s "
        f"({100 * result.emulator_cpu_s / total if total else 0:.0f}% of the two; "
        f"{total / result.elapsed_s:.2f} cores busy); "
        f"per checkout: platform {1000 * result.platform_cpu_s / max(result.completed, 1):.1f} ms,"
        f" emulator {1000 * result.emulator_cpu_s / max(result.completed, 1):.1f} ms"
    )
    if args.rate:
        Console().print(
            f"paced at {args.rate:g}/s: {result.late} checkouts started more than "
            f"{LATE_S * 1000:.0f} ms late (the platform fell behind the schedule)"
        )
    for what, count in sorted(result.errors.items(), key=lambda kv: -kv[1])[:10]:
        Console().print(f"[red]{count} × {what}")


async def main_async(args: argparse.Namespace) -> None:
    async with temp_dir() as tmp:
        console.print("[dim]baseline: bare FastAPI endpoint …[/]")
        bare = await measure_bare(tmp, args.shoppers, args.baseline_duration)
        result = await measure_checkout(args, tmp)
        report(bare.per_s, result, args)
        if args.keep_logs:
            copy_logs(tmp, Path.cwd())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--baseline-duration", type=float, default=5.0)
    # 100 ms, as a shop's page would poll: at 20 ms the polls were most of all requests and,
    # at 64 shoppers, a third of the platform's CPU.
    parser.add_argument("--poll-s", type=float, default=0.1, help="order status poll interval")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="checkouts/s offered in all (open loop); 0: each shopper loops as fast as it can",
    )
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="each service on its own PostgreSQL database (created for the run) instead of SQLite",
    )
    parser.add_argument(
        "--pg-admin-dsn",
        default=os.environ.get(
            "BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--pg-pool-size", type=int, default=2, help="per service, --postgresql")
    parser.add_argument("--keep-logs", action="store_true", help="copy server logs to ./bench-*")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
