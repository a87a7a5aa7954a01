"""The embedded platform against the multi-process one, in one run, and the sidecar hop;
and the multi-process platform's CPU per checkout by part, for the capacity section.

`python -m benchmarks.multiprocess [--duration 10] [--connections 32] [--shoppers 8]`
`python -m benchmarks.multiprocess --quick --no-listing` (a short run: does it all work?)

Both platforms run on PostgreSQL (a database per service, created for the run and dropped
after it), so what differs is the process layout and the hops between the parts:

- **embedded**: `shopfleet up` (one process: gateway and every service, local blocks,
  in-process invocation), its services on PostgreSQL instead of its SQLite default;
- **multi-process**: `shopfleet.dev.multiprocess.MultiProcessPlatform`, as `shopfleet dev` runs it:
  every service and the gateway in its own process with its own sidecar double (Dapr
  adapters, Redis, RabbitMQ).

Measured, one platform at a time (the other is stopped), with `wrk` (one thread) on
`GET /shops/demo/api/v1/products?limit=20`, once with one connection (the latency of one
request, no queueing) and once with `--connections` (throughput): the embedded gateway; the
multi-process gateway (gateway → its double → catalog's double → catalog), and, to take
the hops apart, the same request sent to the gateway's double (double → double →
catalog), to catalog's double (double → catalog) and to the catalog process itself. Then
complete checkouts (cart → order → intent → confirm → signed webhook → `paid`) with the
driver of `benchmarks.checkout`. CPU seconds of every process of the platform (children
included, the Stripe emulator apart) are read from /proc over each window.

On the multi-process platform the CPU is also split by part and role
(`benchmarks.part_cpu`: each service's and the gateway's app process and sidecar double):
at rest before any load (`--idle-duration`), over the checkout window (with PostgreSQL
commits and rows, RabbitMQ messages and Redis commands, `benchmarks.backing`), and over
the shopper mix's reads run one at a time (`benchmarks.mix_reads`, `--read-duration`);
`benchmarks.capacity_report` turns those into replicas and cores (`benchmarks.capacity`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

from benchmarks.backing import Counters, CounterWindow
from benchmarks.capacity_report import report_capacity
from benchmarks.checkout import checkout_worker
from benchmarks.load import run_for
from benchmarks.mix_reads import ReadCost, measure_reads
from benchmarks.part_cpu import APP, DOUBLE, EMULATOR, Group, difference, idle_rates, snapshot
from benchmarks.procs import cpu_seconds, wait_ready
from benchmarks.run import ensure_wrk, free_port, parse_wrk
from benchmarks.shoppers import prepare
from shopfleet.dev.databases import drop_databases, ensure_database
from shopfleet.dev.multiprocess import MultiProcessPlatform
from shopfleet.dev.plan import DevOptions
from shopfleet.kit.telemetry import configure_logging
from shopfleet.serve import migrations_dir
from shopfleet.services import SERVICES

ROOT = Path(__file__).resolve().parents[1]
LISTING = "/shops/demo/api/v1/products?limit=20"
ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
NO_LIMITS = {
    "SHOPFLEET_GATEWAY_CLIENT_RATE_PER_S": "1000000",
    "SHOPFLEET_GATEWAY_CLIENT_BURST": "1000000",
    "SHOPFLEET_GATEWAY_SHOP_RATE_PER_S": "1000000",
    "SHOPFLEET_GATEWAY_SHOP_BURST": "1000000",
    "SHOPFLEET_ACCESS_LOG": "false",
    "SHOPFLEET_LOG_LEVEL": "WARNING",
    "SHOPFLEET_LOG_FORMAT": "json",
}
POOL = 2  # connections per pool per service: 8 services stay under max_connections=100
console = Console(stderr=True)


@dataclass
class Listing:
    platform: str
    path: str
    p50_1_ms: float  # one connection
    p99_1_ms: float
    rps: float  # --connections
    p50_ms: float
    cpu_ms_per_req: float
    errors: int
    cpu_by_process: dict[str, float]  # ms per request of each process


@dataclass
class Checkouts:
    platform: str
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_checkout: float  # the platform's processes, the Stripe emulator apart
    emulator_ms_per_checkout: float
    errors: int
    error_kinds: dict[str, int]
    completed: int
    requests: int  # answered in the window: a checkout's own and its status polls
    cpu_ms_by_group: dict[Group, float]  # per checkout, by (part, app / double / emulator)
    counters: Counters | None  # the backing services over the window (multi-process only)


@dataclass
class MultiProcessRun:
    listings: list[Listing]
    checkouts: Checkouts | None
    reads: list[ReadCost]
    idle_ms_per_s: dict[Group, float]  # each part at rest, before any load


def wrk_run(
    wrk: str, url: str, connections: int, duration: float, pids: dict[str, int], head: list[str]
) -> tuple[float, float, float, int, dict[str, float]]:
    before = {label: cpu_seconds(pid) for label, pid in pids.items()}
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency", *head, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    used = {label: cpu_seconds(pid) - before[label] for label, pid in pids.items()}
    rps, p50, p99, errors = parse_wrk(out)
    return rps, p50, p99, errors, used


def measure_listing(
    wrk: str,
    platform: str,
    path: str,
    url: str,
    args: argparse.Namespace,
    pids: dict[str, int],
    app_token: str | None = None,
) -> Listing:
    """`app_token`: called past the sidecar, the app wants what its sidecar would send."""
    console.print(f"[dim]{platform}: {path} …[/]")
    head = ["-H", f"dapr-api-token: {app_token}"] if app_token else []
    warm_up = [wrk, "-t1", "-c8", "-d2s", *head, url]
    subprocess.run(warm_up, check=True, capture_output=True)
    _, p50_1, p99_1, errors_1, _ = wrk_run(wrk, url, 1, args.latency_duration, pids, head)
    rps, p50, _, errors, used = wrk_run(wrk, url, args.connections, args.duration, pids, head)
    requests = max(rps * args.duration, 1)
    return Listing(
        platform,
        path,
        p50_1,
        p99_1,
        rps,
        p50,
        1000 * sum(used.values()) / requests,
        errors + errors_1,
        {label: 1000 * cpu / requests for label, cpu in used.items()},
    )


async def measure_checkouts(
    platform: str,
    base: str,
    creds_dir: Path,
    args: argparse.Namespace,
    roots: dict[int, Group],
    counters: CounterWindow | None = None,
) -> Checkouts:
    """`roots`: the platform's processes (see benchmarks.part_cpu), each with its group."""
    console.print(f"[dim]{platform}: checkouts with {args.shoppers} shoppers …[/]")
    connector = aiohttp.TCPConnector(limit=args.shoppers * 2)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        people, ids = await prepare(session, creds_dir, args.shoppers, uuid.uuid4().hex[:6])
        workers = [checkout_worker(p, a, ids, args.poll_s) for p, a in people]
        marks: dict[bool, dict[Group, float]] = {}
        answered = [0]  # requests so far, all shoppers
        for shopper, _ in people:
            shopper.on_answer = lambda _ms: answered.__setitem__(0, answered[0] + 1)
        requests: dict[bool, int] = {}

        def window(start: bool) -> None:
            marks[start] = snapshot(roots)
            requests[start] = answered[0]
            if counters is not None:
                counters.mark(start)

        tally, elapsed = await run_for(args.checkout_duration, workers, args.warmup, window)
    done = len(tally.latencies_ms)
    latencies = sorted(tally.latencies_ms) or [float("nan")]
    by_group = {
        group: 1000 * cpu / max(done, 1)
        for group, cpu in difference(marks[True], marks[False]).items()
    }
    return Checkouts(
        platform,
        done / elapsed,
        statistics.median(latencies),
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        sum(ms for (_, role), ms in by_group.items() if role != EMULATOR),
        sum(ms for (_, role), ms in by_group.items() if role == EMULATOR),
        sum(tally.errors.values()),
        tally.errors,
        done,
        requests[False] - requests[True],
        by_group,
        await counters.result() if counters is not None else None,
    )


async def measure_mix_reads(
    base: str, creds_dir: Path, args: argparse.Namespace, roots: dict[int, Group]
) -> list[ReadCost]:
    """The reads a checkout brings in the shopper mix, each alone (benchmarks.mix_reads)."""
    connector = aiohttp.TCPConnector(limit=args.shoppers * 2)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        people, ids = await prepare(session, creds_dir, args.shoppers, uuid.uuid4().hex[:6])
        return await measure_reads(people, ids, roots, args.read_duration, args.read_warmup)


def database_names(tag: str) -> dict[str, str]:
    return {n: f"bench_mp_{tag}_{n}" for n in SERVICES if migrations_dir(n) is not None}


async def databases(tag: str, admin_dsn: str) -> dict[str, str]:
    return {n: await ensure_database(admin_dsn, db) for n, db in database_names(tag).items()}


def launch(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def keep_logs(tmp: Path, into: Path) -> None:
    for log in tmp.rglob("*.log"):
        target = into / log.relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(log.read_bytes())


async def run_embedded(
    wrk: str | None, args: argparse.Namespace, tmp: Path
) -> tuple[Listing | None, Checkouts | None]:
    tag = uuid.uuid4().hex[:6]
    urls = await databases(f"emb_{tag}", args.pg_admin_dsn)
    port, data = free_port(), tmp / "embedded"
    env = {
        **os.environ,
        **NO_LIMITS,
        "SHOPFLEET_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **{f"SHOPFLEET_{n.upper()}_DATABASE_URL": u for n, u in urls.items()},
        # the same pools as the multi-process platform's (DevOptions.db_pool_size)
        **{f"SHOPFLEET_{n.upper()}_DB_POOL_SIZE": str(POOL) for n in urls},
    }
    cmd = [
        sys.executable,
        "-m",
        "shopfleet.cli",
        "up",
        "--port",
        str(port),
        "--data-dir",
        str(data),
    ]
    console.print("[dim]embedded: starting `shopfleet up` on PostgreSQL …[/]")
    proc = launch(cmd, env, tmp / "embedded.log")
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"{base}/readyz", proc, timeout_s=240)
        listing = None
        if wrk is not None:
            listing = measure_listing(
                wrk,
                "embedded",
                "gateway → catalog (in-process)",
                base + LISTING,
                args,
                {"shopfleet up": proc.pid},
            )
        checkouts = None
        if not args.no_checkout:
            roots = {proc.pid: ("shopfleet up", APP)}  # the emulator is its child
            checkouts = await measure_checkouts("embedded", base, data, args, roots)
        return listing, checkouts
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        await drop_databases(args.pg_admin_dsn, list(database_names(f"emb_{tag}").values()))


def part_roots(platform: MultiProcessPlatform) -> dict[int, Group]:
    """Each part's two processes (children included by benchmarks.part_cpu)."""
    roots: dict[int, Group] = {}
    for name, part in platform.parts.items():
        assert part.service.pid is not None and part.sidecar.pid is not None
        roots[part.service.pid] = (name, APP)
        roots[part.sidecar.pid] = (name, DOUBLE)
    return roots


async def run_multiprocess(wrk: str | None, args: argparse.Namespace, tmp: Path) -> MultiProcessRun:
    """`wrk` None: no listing runs."""
    tag = uuid.uuid4().hex[:6]
    urls = await databases(f"mp_{tag}", args.pg_admin_dsn)
    options = DevOptions(
        run_dir=tmp / "multiprocess",
        prefix=f"bench-mp-{tag}.",
        database_urls=urls,
        admin_dsn=args.pg_admin_dsn,
        redis_url=args.redis_url,
        amqp_url=args.amqp_url,
        env=NO_LIMITS,
        log_level="WARNING",
        db_pool_size=POOL,
    )
    platform = MultiProcessPlatform(options)
    console.print("[dim]multi-process: starting every service with its sidecar double …[/]")
    try:
        await platform.start()
        roots = part_roots(platform)
        idle = {}
        if not args.no_checkout:  # the capacity figures are per checkout
            console.print(f"[dim]multi-process: at rest, {args.idle_duration:g} s …[/]")
            idle = await idle_rates(roots, args.idle_duration)
        pids = {
            name if role == APP else f"{name}'s double": pid for pid, (name, role) in roots.items()
        }
        listings = []
        if wrk is not None:
            catalog, gateway = platform.parts["catalog"], platform.parts["gateway"]
            invoke = "/v1.0/invoke/catalog/method" + LISTING
            sidecars_token = catalog.service.env["APP_API_TOKEN"]  # what catalog's double sends
            targets = [
                ("gateway → double → double → catalog", platform.url + LISTING, None),
                (
                    "gateway's double → catalog's double → catalog",
                    gateway.sidecar_url + invoke,
                    None,
                ),
                ("catalog's double → catalog", catalog.sidecar_url + invoke, None),
                ("catalog process alone", catalog.url + LISTING, sidecars_token),
            ]
            listings = [
                measure_listing(wrk, "multi-process", label, url, args, pids, token)
                for label, url, token in targets
            ]
        checkouts = None
        if not args.no_checkout:
            counters = CounterWindow(
                args.pg_admin_dsn,
                database_names(f"mp_{tag}"),
                options.amqp_url,
                options.prefix,
                options.redis_url,
            )
            checkouts = await measure_checkouts(
                "multi-process", platform.url, platform.run_dir, args, roots, counters
            )
        reads = []
        if args.read_duration > 0 and not args.no_checkout:
            reads = await measure_mix_reads(platform.url, platform.run_dir, args, roots)
        return MultiProcessRun(listings, checkouts, reads, idle)
    finally:
        await platform.stop()
        await platform.purge_namespace()
        await drop_databases(args.pg_admin_dsn, list(database_names(f"mp_{tag}").values()))


def report(listings: list[Listing], checkouts: list[Checkouts], args: argparse.Namespace) -> None:
    out = Console(width=170)
    if listings:
        report_listings(out, listings, args)
    if checkouts:
        report_checkouts(out, checkouts, args)


def report_listings(out: Console, listings: list[Listing], args: argparse.Namespace) -> None:
    table = Table(title=f"GET {LISTING}")
    columns = (
        "platform",
        "path",
        "p50 ms (1 conn)",
        "p99 ms (1 conn)",
        f"req/s ({args.connections} conn)",
        "p50 ms",
        "CPU ms/req",
        "errors",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("platform", "path") else "right")
    for r in listings:
        table.add_row(
            r.platform,
            r.path,
            f"{r.p50_1_ms:.2f}",
            f"{r.p99_1_ms:.2f}",
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.cpu_ms_per_req:.2f}",
            str(r.errors),
        )
    out.print(table)
    for r in listings:
        busy = sorted(r.cpu_by_process.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{label} {ms:.2f}" for label, ms in busy if ms >= 0.05)
        out.print(f"CPU ms/req, {r.platform}, {r.path}: {shown}")
    by = {r.path: r for r in listings}
    emb = listings[0]
    full, two, one, alone = (by[p] for p in [x.path for x in listings[1:5]])
    out.print(
        f"sidecar hops, one request at a time (p50): double → app "
        f"{one.p50_1_ms - alone.p50_1_ms:+.2f} ms; double → double → app "
        f"{two.p50_1_ms - alone.p50_1_ms:+.2f} ms; the whole multi-process path vs the "
        f"embedded gateway {full.p50_1_ms - emb.p50_1_ms:+.2f} ms "
        f"({full.p50_1_ms / emb.p50_1_ms:.1f}×); throughput {full.rps / emb.rps:.2f}× the "
        f"embedded; CPU per request {full.cpu_ms_per_req / emb.cpu_ms_per_req:.1f}× the embedded"
    )


def report_checkouts(out: Console, checkouts: list[Checkouts], args: argparse.Namespace) -> None:
    table = Table(title=f"Complete checkouts, {args.shoppers} shoppers")
    columns = (
        "platform",
        "per s",
        "p50 ms",
        "p99 ms",
        "CPU ms/checkout",
        "emulator CPU ms/checkout",
        "errors",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "platform" else "right")
    for c in checkouts:
        table.add_row(
            c.platform,
            f"{c.per_s:.1f}",
            f"{c.p50_ms:.0f}",
            f"{c.p99_ms:.0f}",
            f"{c.cpu_ms_per_checkout:.0f}",
            f"{c.emulator_ms_per_checkout:.0f}",
            str(c.errors),
        )
    out.print(table)
    for c in checkouts:
        for what, count in sorted(c.error_kinds.items(), key=lambda kv: -kv[1])[:5]:
            out.print(f"[red]{c.platform}: {count} × {what}")


async def main_async(args: argparse.Namespace) -> None:
    configure_logging("WARNING", "console")
    wrk = None if args.no_listing else ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="shopfleet-bench-mp-") as name:
        tmp = Path(name)
        emb_listing, emb_checkouts = await run_embedded(wrk, args, tmp)
        multi = await run_multiprocess(wrk, args, tmp)
        if args.keep_logs:
            keep_logs(tmp, args.keep_logs)
    report(
        [x for x in (emb_listing, *multi.listings) if x is not None],
        [c for c in (emb_checkouts, multi.checkouts) if c is not None],
        args,
    )
    report_capacity(Console(width=190), multi)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, help="throughput run, s (10; --quick: 1)")
    parser.add_argument("--latency-duration", type=float, help="1-connection run (5; --quick: 1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--shoppers", type=int, help="(8; --quick: 2)")
    parser.add_argument("--checkout-duration", type=float, help="(30; --quick: 5)")
    parser.add_argument("--warmup", type=float, help="before each checkout window (5; --quick: 2)")
    parser.add_argument(
        "--read-duration",
        type=float,
        help="each of the mix's reads alone on the multi-process platform (8; --quick: 2; 0: none)",
    )
    parser.add_argument("--read-warmup", type=float, help="(2; --quick: 1)")
    parser.add_argument(
        "--idle-duration", type=float, help="the multi-process platform at rest (10; --quick: 2)"
    )
    parser.add_argument(
        "--poll-s", type=float, default=0.2, help="order status poll interval (polls are load)"
    )
    parser.add_argument("--no-checkout", action="store_true")
    parser.add_argument("--no-listing", action="store_true", help="no wrk runs")
    parser.add_argument("--quick", action="store_true", help="a short run: does it all work?")
    parser.add_argument("--pg-admin-dsn", default=ADMIN_DSN)
    parser.add_argument("--redis-url", default=DevOptions.redis_url, help="the doubles' Redis")
    parser.add_argument("--amqp-url", default=DevOptions.amqp_url, help="the doubles' RabbitMQ")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy every log here")
    args = parser.parse_args(argv)
    defaults = {  # full run, --quick
        "duration": (10.0, 1.0),
        "latency_duration": (5.0, 1.0),
        "shoppers": (8, 2),
        "checkout_duration": (30.0, 5.0),
        "warmup": (5.0, 2.0),
        "read_duration": (8.0, 2.0),
        "read_warmup": (2.0, 1.0),
        "idle_duration": (10.0, 2.0),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def main() -> None:
    asyncio.run(main_async(parse_args()))


if __name__ == "__main__":
    main()
