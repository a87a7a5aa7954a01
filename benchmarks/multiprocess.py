"""The embedded platform against the multi-process one, in one run, and the sidecar hop.

`python -m benchmarks.multiprocess [--duration 10] [--connections 32] [--shoppers 16]`

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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from benchmarks.checkout import checkout_worker
from benchmarks.load import run_for
from benchmarks.procs import children, cpu_seconds, wait_ready
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


def tree(pids: list[int]) -> list[int]:
    """`pids` and all their descendants."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
    found, frontier = set(pids), list(pids)
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found.add(child)
                frontier.append(child)
    return sorted(found)


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def wrk_run(  # type: ignore[no-untyped-def]
    wrk: str, url: str, connections: int, duration: float, pids: dict[str, int], head: list[str]
):
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
    platform: str, base: str, creds_dir: Path, args: argparse.Namespace, pids: list[int]
) -> Checkouts:
    console.print(f"[dim]{platform}: checkouts with {args.shoppers} shoppers …[/]")
    connector = aiohttp.TCPConnector(limit=args.shoppers * 2)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        people, ids = await prepare(session, creds_dir, args.shoppers, uuid.uuid4().hex[:6])
        workers = [checkout_worker(p, a, ids, args.poll_s) for p, a in people]
        marks: dict[bool, tuple[float, float]] = {}

        def window(start: bool) -> None:
            emulators = tree([child for pid in pids for child in children(pid)])
            everything = tree(pids)
            emulator = cpu_of(emulators)
            marks[start] = (cpu_of(everything) - emulator, emulator)

        tally, elapsed = await run_for(args.checkout_duration, workers, 5.0, window)
    done = len(tally.latencies_ms)
    latencies = sorted(tally.latencies_ms) or [float("nan")]
    return Checkouts(
        platform,
        done / elapsed,
        statistics.median(latencies),
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        1000 * (marks[False][0] - marks[True][0]) / max(done, 1),
        1000 * (marks[False][1] - marks[True][1]) / max(done, 1),
        sum(tally.errors.values()),
        tally.errors,
    )


async def databases(tag: str) -> dict[str, str]:
    names = [n for n in SERVICES if migrations_dir(n) is not None]
    return {n: await ensure_database(ADMIN_DSN, f"bench_mp_{tag}_{n}") for n in names}


def launch(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def keep_logs(tmp: Path, into: Path) -> None:
    for log in tmp.rglob("*.log"):
        target = into / log.relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(log.read_bytes())


async def run_embedded(
    wrk: str, args: argparse.Namespace, tmp: Path
) -> tuple[Listing, Checkouts | None]:
    tag = uuid.uuid4().hex[:6]
    urls = await databases(f"emb_{tag}")
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
            checkouts = await measure_checkouts("embedded", base, data, args, [proc.pid])
        return listing, checkouts
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        await drop_databases(ADMIN_DSN, [f"bench_mp_emb_{tag}_{n}" for n in urls])


async def run_multiprocess(
    wrk: str, args: argparse.Namespace, tmp: Path
) -> tuple[list[Listing], Checkouts | None]:
    tag = uuid.uuid4().hex[:6]
    urls = await databases(f"mp_{tag}")
    options = DevOptions(
        run_dir=tmp / "multiprocess",
        prefix=f"bench-mp-{tag}.",
        database_urls=urls,
        env=NO_LIMITS,
        log_level="WARNING",
        db_pool_size=POOL,
    )
    platform = MultiProcessPlatform(options)
    console.print("[dim]multi-process: starting every service with its sidecar double …[/]")
    try:
        await platform.start()
        pids: dict[str, int] = {}
        for name, part in platform.parts.items():
            assert part.service.pid is not None and part.sidecar.pid is not None
            pids[name], pids[f"{name}'s double"] = part.service.pid, part.sidecar.pid
        catalog, gateway = platform.parts["catalog"], platform.parts["gateway"]
        invoke = "/v1.0/invoke/catalog/method" + LISTING
        sidecars_token = catalog.service.env["APP_API_TOKEN"]  # what catalog's double sends it
        targets = [
            ("gateway → double → double → catalog", platform.url + LISTING, None),
            ("gateway's double → catalog's double → catalog", gateway.sidecar_url + invoke, None),
            ("catalog's double → catalog", catalog.sidecar_url + invoke, None),
            ("catalog process alone", catalog.url + LISTING, sidecars_token),
        ]
        listings = [
            measure_listing(wrk, "multi-process", label, url, args, pids, token)
            for label, url, token in targets
        ]
        checkouts = None
        if not args.no_checkout:
            checkouts = await measure_checkouts(
                "multi-process", platform.url, platform.run_dir, args, list(pids.values())
            )
        return listings, checkouts
    finally:
        await platform.stop()
        await platform.purge_namespace()
        await drop_databases(ADMIN_DSN, [f"bench_mp_mp_{tag}_{n}" for n in urls])


def report(listings: list[Listing], checkouts: list[Checkouts], args: argparse.Namespace) -> None:
    out = Console(width=170)
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
    if checkouts:
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
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="shopfleet-bench-mp-") as name:
        tmp = Path(name)
        emb_listing, emb_checkouts = await run_embedded(wrk, args, tmp)
        mp_listings, mp_checkouts = await run_multiprocess(wrk, args, tmp)
        if args.keep_logs:
            keep_logs(tmp, args.keep_logs)
    report(
        [emb_listing, *mp_listings],
        [c for c in (emb_checkouts, mp_checkouts) if c is not None],
        args,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="throughput run, s")
    parser.add_argument("--latency-duration", type=float, default=5.0, help="1-connection run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--shoppers", type=int, default=8)
    parser.add_argument("--checkout-duration", type=float, default=30.0)
    parser.add_argument(
        "--poll-s", type=float, default=0.2, help="order status poll interval (polls are load)"
    )
    parser.add_argument("--no-checkout", action="store_true")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy every log here")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
