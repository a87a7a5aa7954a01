"""The cluster path, timed on the simulated cluster (tests/support/cluster; needs root).

    .venv/bin/python -m benchmarks.cluster                 # shared shop, 20 checkouts
    .venv/bin/python -m benchmarks.cluster --dedicated     # and a dedicated shop

It measures, in one run:
- the platform: the chart applied → every Deployment Available (pods started, migrated,
  probes passing, sidecars loaded);
- a shared shop (examples/shop.yaml): applied → Ready → first 200 by its host;
- a dedicated shop (examples/shop-dedicated.yaml, one replica): applied → Ready → every pod
  of its namespace Ready → first 200;
- latency through ingress → gateway → sidecars → service: `GET /products` on the shop
  against the gateway's own `/healthz` (the same pod, no sidecar, no service) as the
  baseline, and whole checkouts (cart → order → payment confirmed → order paid by the
  emulator's webhook), sequentially.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.table import Table

from tests.support.cluster.deploy import NAMESPACE, ROOT, Platform, simulated_platform, wait_until

console = Console()
API = "/api/v1"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}


def shop_documents(example: str, name: str) -> list[dict[str, Any]]:
    text = (ROOT / "examples" / example).read_text()
    documents = [d for d in yaml.safe_load_all(text) if d]
    (shop,) = [d for d in documents if d["kind"] == "Shop"]
    old = shop["metadata"]["name"]
    text = yaml.safe_dump_all(documents).replace(f"{old}-", f"{name}-")
    text = text.replace(f"name: {old}\n", f"name: {name}\n")
    documents = [d for d in yaml.safe_load_all(text) if d]
    for doc in documents:
        doc["metadata"]["namespace"] = NAMESPACE
        if doc["kind"] == "Shop":
            doc["spec"]["hosts"] = [f"{name}.bench.test"]
            doc["spec"].pop("payments", None)
            if doc["spec"].get("resources"):
                doc["spec"]["resources"]["replicas"] = 1
    return documents


async def ready(platform: Platform, name: str) -> bool:
    shop = await platform.kube.get("shopfleet.io/v1alpha1", "shops", name, namespace=NAMESPACE)
    conditions = ((shop or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def pods_ready(platform: Platform, namespace: str) -> bool:
    pods = await platform.kube.list("v1", "pods", namespace=namespace)
    return bool(pods) and all(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
        for p in pods
    )


async def bring_up(platform: Platform, example: str, name: str) -> dict[str, float]:
    documents = shop_documents(example, name)
    started = time.monotonic()
    for doc in documents:
        await platform.kube.apply(doc)
    await wait_until(lambda: ready(platform, name), f"{name} Ready", within_s=600)
    times = {"Ready": time.monotonic() - started}
    if example == "shop-dedicated.yaml":
        await wait_until(lambda: pods_ready(platform, f"shop-{name}"), "pods", within_s=600)
        times["pods Ready"] = time.monotonic() - started
    async with platform.client(f"{name}.bench.test") as http:

        async def serving() -> bool:
            return (await http.get(f"{API}/products")).status_code == 200

        await wait_until(serving, f"{name} serving", within_s=300)
    times["first 200"] = time.monotonic() - started
    return times


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def timed_gets(http: httpx.AsyncClient, path: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await http.get(path)
        samples.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    return samples


async def checkouts(http: httpx.AsyncClient, admin_password: str, count: int) -> list[float]:
    async def call(method: str, path: str, token: str, **kw: Any) -> Any:
        headers = {"authorization": f"Bearer {token}", **kw.pop("headers", {})}
        answer = await http.request(method, API + path, headers=headers, **kw)
        assert answer.status_code < 300, f"{method} {path}: {answer.text}"
        return answer.json() if answer.content else None

    async def login(email: str, password: str) -> str:
        answer = await http.post(f"{API}/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    admin = await login("admin@example.com", admin_password)
    product = await call(
        "POST",
        "/products",
        admin,
        json={"name": "Kettle", "sku": "KET-1", "price": {"amount": 3900}, "on_hand": 100000},
    )
    await call(
        "POST",
        "/shipping/methods",
        admin,
        json={"id": "standard", "name": "Standard", "carrier": "DHL"},
    )
    email = f"bench-{uuid.uuid4().hex[:6]}@example.com"
    await http.post(
        f"{API}/auth/register",
        json={"email": email, "password": "a long password", "display_name": "B"},
    )
    shopper = await login(email, "a long password")
    address = await call("POST", "/shipping/addresses", shopper, json=ADDRESS)

    async def cart_add() -> bool:
        answer = await http.post(
            f"{API}/cart/items",
            headers={"authorization": f"Bearer {shopper}"},
            json={"product_id": product["id"], "quantity": 1},
        )
        return answer.status_code in (200, 201)

    await wait_until(cart_add, "the product in the cart", within_s=60)
    await call("DELETE", "/cart", shopper)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call(
            "POST", "/cart/items", shopper, json={"product_id": product["id"], "quantity": 1}
        )
        order = await call(
            "POST",
            "/orders",
            shopper,
            json={"shipping_method": "standard", "shipping_address_id": address["id"]},
            headers={"idempotency-key": str(uuid.uuid4())},
        )
        payment = await call(
            "POST",
            "/payments/intents",
            shopper,
            json={"order_id": order["id"], "payment_method": "pm_card_visa"},
        )
        await call("POST", f"/payments/{payment['id']}/confirm", shopper)

        async def paid(order_id: str = order["id"]) -> bool:
            found = await call("GET", f"/orders/{order_id}", shopper)
            return found["status"] in ("paid", "fulfilling")

        await wait_until(paid, "the order paid", within_s=60, interval_s=0.02)
        samples.append(time.perf_counter() - started)
    return samples


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        started = time.monotonic()
        with console.status("starting the simulated cluster and installing the chart"):
            async with simulated_platform(Path(tmp)) as platform:
                platform_s = time.monotonic() - started
                await run(platform, platform_s, args)


async def run(platform: Platform, platform_s: float, args: argparse.Namespace) -> None:
    rows: list[tuple[str, str]] = [
        ("cluster started, chart applied → every Deployment Available", f"{platform_s:.1f} s")
    ]
    with console.status("a shared shop"):
        shared = await bring_up(platform, "shop.yaml", "benchshared")
    rows += [(f"shared shop: applied → {k}", f"{v:.1f} s") for k, v in shared.items()]
    if args.dedicated:
        with console.status("a dedicated shop"):
            dedicated = await bring_up(platform, "shop-dedicated.yaml", "benchdedicated")
        rows += [(f"dedicated shop: applied → {k}", f"{v:.1f} s") for k, v in dedicated.items()]
    documents = shop_documents("shop.yaml", "benchshared")
    (secret,) = [d for d in documents if d["kind"] == "Secret"]
    async with platform.client("benchshared.bench.test") as http:
        with console.status("reads through the ingress"):
            baseline = await timed_gets(http, "/healthz", args.requests)
            products = await timed_gets(http, f"{API}/products", args.requests)
        with console.status(f"{args.checkouts} checkouts"):
            checkout = await checkouts(http, secret["stringData"]["password"], args.checkouts)
    table = Table(title="the cluster path on the simulated cluster")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for measure, value in rows:
        table.add_row(measure, value)
    base50, _ = percentiles(baseline)
    for label, samples in (
        ("GET /healthz (gateway only: the baseline)", baseline),
        ("GET /products (ingress → gateway → daprd → daprd → catalog)", products),
        ("checkout: cart → order → pay → paid by webhook", checkout),
    ):
        p50, p99 = percentiles(samples)
        table.add_row(f"{label} p50 / p99", f"{p50:.1f} / {p99:.1f} ms ({p50 / base50:.1f}×)")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dedicated", action="store_true", help="also a dedicated shop")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--checkouts", type=int, default=20)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
