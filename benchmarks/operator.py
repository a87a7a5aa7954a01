"""Operator benchmark: time from `kubectl apply` to `Ready=True`, and API writes per reconcile.

    .venv/bin/python -m benchmarks.operator [--shops 1 100] [--tiers shared dedicated]

The real operator (kopf's KopfRunner, in a thread) runs against the emulated API server of
the operator tests (kmock, made to behave like a real one); shared-tier tenants are
bootstrapped in a running embedded platform (uvicorn, loopback), so the time includes the
admin's password hash. A dedicated shop's Deployments are reported available by a stand-in
Deployment controller as soon as they exist. For each tier and count, all shops are applied
at once; the table gives the time until the last one is Ready and each shop's own
apply-to-Ready time, then the API writes its creation took, a no-op reconcile (the same
spec applied again, an operator restart) took, and a spec change (suspend) took.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import kmock
import uvicorn
from rich.console import Console
from rich.table import Table

from benchmarks.run import free_port

os.environ["SHOPFLEET_OPERATOR_TIMER_INTERVAL"] = "600"  # no drift checks during a run

from shopfleet_operator.crd import crd_manifest
from tests.operator.conftest import RouteProjection, gateway_endpoints, kubeconfig_for
from tests.operator.shops import admin_secret, shop
from tests.support import accounts
from tests.support.cluster.apiserver import ApiServer
from tests.support.platform import PLATFORM_TOKEN, make_platform

NS = "shopfleet"
SHOPS = "shopfleet.io/v1alpha1/shops"


def ready(api: ApiServer, name: str) -> bool:
    obj = api.obj(SHOPS, NS, name, copied=False) or {}
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (obj.get("status") or {}).get("conditions", [])
    )


def progress(line: str) -> None:
    """To the real stderr: kopf's runner captures sys.stdout while it runs."""
    sys.__stderr__.write(f"  {line}\n")
    sys.__stderr__.flush()


def reason(api: ApiServer, name: str) -> str:
    obj = api.obj(SHOPS, NS, name, copied=False) or {}
    found = [c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == "Ready"]
    return found[0]["reason"] if found else "no status"


def kinds(writes: list[str]) -> Counter[str]:
    """`PATCH status`, `POST events`, ... from `METHOD /path` lines."""
    found: Counter[str] = Counter()
    for line in writes:
        method, path = line.split(" ", 1)
        parts = path.strip("/").split("/")
        what = parts[-1] if parts[-1] == "status" else None
        if what is None:
            plural = parts[-1] if method == "POST" else parts[-2]
            what = plural
        found[f"{method} {what}"] += 1
    return found


async def deployment_controller(api: ApiServer) -> None:
    while True:
        deployments = api.all("apps/v1/deployments", copied=False)
        for ns in {d["metadata"]["namespace"] for d in deployments}:
            await api.make_available(ns)
        await asyncio.sleep(0.1)


async def settle(api: ApiServer, quiet_s: float = 1.0) -> None:
    """Wait until no request arrived for `quiet_s`."""
    seen = -1
    while seen != api.count:
        seen = api.count
        await asyncio.sleep(quiet_s)


async def run_one(tier: str, count: int, port: int, routes: Path, work: Path) -> dict:
    from kopf.testing import KopfRunner

    async with ApiServer() as api, kmock.Server(api):
        for ns in ("default", NS):
            await api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await api.apply(crd_manifest())
        # The embedded platform is the gateway's one replica (RoutesReady asks it), its
        # route file following the ConfigMap as a kubelet's mount would.
        await api.apply(gateway_endpoints(port))
        projection = asyncio.create_task(RouteProjection(api, routes).run())
        os.environ["KUBECONFIG"] = str(kubeconfig_for(api, work / f"kubeconfig-{tier}-{count}"))
        names = [f"{tier[:3]}{i:03d}" for i in range(count)]
        for name in names:
            await api.apply(admin_secret(name, NS))
        runner = KopfRunner(["run", "-m", "shopfleet_operator.main", "--standalone", "-A"])
        await asyncio.to_thread(runner.__enter__)
        controller = asyncio.create_task(deployment_controller(api))
        try:
            progress(f"{tier} × {count}: operator started")
            await settle(api, 0.5)
            before = api.count
            started = time.perf_counter()
            for name in names:
                await api.apply(shop(name, NS, tier=tier))
            applied = time.perf_counter()
            done: dict[str, float] = {}
            report = time.perf_counter() + 5
            while len(done) < count:
                if time.perf_counter() > report:
                    report += 5
                    reasons = Counter(reason(api, name) for name in names if name not in done)
                    progress(f"{len(done)}/{count} Ready, {api.count} requests, {dict(reasons)}")
                    if os.environ.get("BENCH_DEBUG"):
                        last = [f"{r.method.value} {r.url}" for r in api._requests[-4:]]
                        progress(f"last requests: {last}")
                now = time.perf_counter()
                for name in names:
                    if name not in done and ready(api, name):
                        done[name] = now - started
                await asyncio.sleep(0.05)
            total = time.perf_counter() - started
            await settle(api)
            create_writes = api.writes(before)
            create_requests = api.count - before
            table = api.obj("v1/configmaps", NS, "shopfleet-routes", copied=False)
            route_bytes = len(table["data"]["routes.json"].encode())

            mark = api.count
            for name in names:  # the same spec again
                await api.apply(shop(name, NS, tier=tier))
            await settle(api)
            noop_writes = api.writes(mark)
        finally:
            controller.cancel()
            await asyncio.to_thread(runner.__exit__, None, None, None)

        mark = api.count
        runner = KopfRunner(["run", "-m", "shopfleet_operator.main", "--standalone", "-A"])
        await asyncio.to_thread(runner.__enter__)
        try:
            await settle(api)
            restart_writes = api.writes(mark)
            # A restart resumes every shop: one reconcile each, as a drift check does.
            restart_requests = api.count - mark
            mark = api.count
            for name in names:
                await api.apply(shop(name, NS, tier=tier, suspended=True))
            await settle(api)
            suspend_writes = api.writes(mark)
        finally:
            projection.cancel()
            await asyncio.to_thread(runner.__exit__, None, None, None)
    times = sorted(done.values())
    return {
        "tier": tier,
        "shops": count,
        "apply_s": applied - started,
        "all_ready_s": total,
        "p50_s": statistics.median(times),
        "max_s": times[-1],
        "create": kinds(create_writes),
        "create_per_shop": len(create_writes) / count,
        "requests_per_shop": create_requests / count,
        "drift_requests_per_shop": restart_requests / count,
        "route_bytes_per_shop": route_bytes / count,
        "noop_per_shop": len(noop_writes) / count,
        "restart_per_shop": len(restart_writes) / count,
        "restart": restart_writes,
        "suspend": kinds(suspend_writes),
        "suspend_per_shop": len(suspend_writes) / count,
    }


async def main(counts: list[int], tiers: list[str], bootstraps: int) -> None:
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        platform = make_platform(work / "platform")
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(platform, host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.05)
        os.environ["SHOPFLEET_PLATFORM_URL"] = f"http://127.0.0.1:{port}"
        os.environ["SHOPFLEET_PLATFORM_TOKEN"] = PLATFORM_TOKEN
        os.environ["SHOPFLEET_OPERATOR_NAMESPACE"] = NS
        os.environ["SHOPFLEET_OPERATOR_RETRY_DELAY"] = "0.2"
        # Tenant bootstraps in flight at once (the operator's default, 4; each hashes a password).
        os.environ["SHOPFLEET_OPERATOR_BOOTSTRAP_CONCURRENCY"] = str(bootstraps)
        # Dedicated shops' own accounts on this machine's PostgreSQL and RabbitMQ.
        prefix = f"sfbench_{os.getpid()}_"
        os.environ.update(accounts.operator_env(prefix))
        results = []
        try:
            for tier in tiers:
                for count in counts:
                    result = await run_one(tier, count, port, platform.routes.path, work)
                    console.print(
                        f"{tier} × {count}: all Ready in {result['all_ready_s']:.2f} s",
                        style="bold",
                    )
                    results.append(result)
        finally:
            server.should_exit = True
            await serving
            await asyncio.to_thread(accounts.drop_prefixed, prefix)

    table = Table(title="Shop apply → Ready (emulated API, embedded platform)")
    for column in (
        "tier",
        "shops",
        "all Ready",
        "p50 / max per shop",
        "requests/shop: create",
        "resume (= drift check)",
        "writes/shop: create",
        "no-op re-apply",
        "restart",
        "suspend",
        "route bytes/shop",
    ):
        table.add_column(column)
    for r in results:
        table.add_row(
            r["tier"],
            str(r["shops"]),
            f"{r['all_ready_s']:.2f} s",
            f"{r['p50_s']:.2f} / {r['max_s']:.2f} s",
            f"{r['requests_per_shop']:.1f}",
            f"{r['drift_requests_per_shop']:.1f}",
            f"{r['create_per_shop']:.1f}",
            f"{r['noop_per_shop']:.1f}",
            f"{r['restart_per_shop']:.1f}",
            f"{r['suspend_per_shop']:.1f}",
            f"{r['route_bytes_per_shop']:.0f}",
        )
    console.print(table)
    for r in results:
        if r["shops"] == 1:
            console.print(f"{r['tier']}, 1 shop, creation writes: {dict(r['create'])}")
            console.print(f"{r['tier']}, 1 shop, suspend writes: {dict(r['suspend'])}")
        if r["restart"]:
            console.print(f"{r['tier']}, {r['shops']} shops, restart writes: {r['restart']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--tiers", nargs="+", default=["shared", "dedicated"])
    parser.add_argument("--bootstraps", type=int, default=4, help="tenant bootstraps at once")
    args = parser.parse_args()
    asyncio.run(main(args.shops, args.tiers, args.bootstraps))
