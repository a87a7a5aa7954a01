"""The reads that come with a checkout in the shopper mix, one operation at a time, with
the CPU of each part of the multi-process platform per request.

`benchmarks.mix` weighs a checkout against 10 product views, 3 cart views, 2 adds to the
cart and 1 front page. Here each of those four runs alone for a window (every shopper in a
closed loop), so its CPU per request can be split by process; `per_checkout` weighs them
back together. The carts stay as small as the mix keeps them: `GET /cart` reads a cart of
one line, and adds alternate between two products of the shopper's own, the cart cleared
every CLEAR_EVERY adds (a quantity stops at 99; the clear's CPU counts with the adds, ≈ 1 %).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from rich.console import Console

from benchmarks.load import Tally, run_for
from benchmarks.part_cpu import Group, difference, net_of_idle, snapshot
from benchmarks.shoppers import Shop

READS_PER_CHECKOUT = {"front_page": 1, "browse": 10, "view_cart": 3, "add_to_cart": 2}
CLEAR_EVERY = 98
console = Console(stderr=True)


@dataclass
class Reader:
    shopper: Shop
    own_products: list[str]  # the two this shopper adds
    all_products: list[str]
    rng: random.Random
    adds: int = 0

    async def front_page(self) -> None:
        await self.shopper.call("GET", "/products?limit=20")

    async def browse(self) -> None:
        await self.shopper.call("GET", f"/products/{self.rng.choice(self.all_products)}")

    async def view_cart(self) -> None:
        await self.shopper.call("GET", "/cart")

    async def add_to_cart(self) -> None:
        if self.adds and self.adds % CLEAR_EVERY == 0:
            await self.shopper.call("DELETE", "/cart", expect=(200, 204))
        product = self.own_products[self.adds % len(self.own_products)]
        self.adds += 1
        await self.shopper.call("POST", "/cart/items", {"product_id": product, "quantity": 1})

    async def one_line_cart(self) -> None:
        await self.shopper.call("DELETE", "/cart", expect=(200, 204))
        body = {"product_id": self.own_products[0], "quantity": 1}
        await self.shopper.call("POST", "/cart/items", body)


@dataclass
class ReadCost:
    operation: str
    per_checkout: int  # how many come with one checkout in the mix
    requests: int
    per_s: float
    errors: dict[str, int]
    cpu_ms: dict[Group, float]  # per request, by (part, role)


def marker(
    marks: dict[bool, dict[Group, float]], roots: Mapping[int, Group]
) -> Callable[[bool], None]:
    """A window callback that keeps each part's CPU when the window opens and closes."""

    def window(start: bool) -> None:
        marks[start] = snapshot(roots)

    return window


def loop_of(operation: Callable[[], Awaitable[None]]) -> Callable[[Tally], Awaitable[None]]:
    async def worker(tally: Tally) -> None:
        started = time.perf_counter()
        try:
            await operation()
        except Exception as exc:  # counted and shown, never hidden
            tally.error(f"{type(exc).__name__}: {exc}"[:120])
            await asyncio.sleep(0.1)
            return
        if tally.measuring:
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)

    return worker


async def measure_reads(
    people: list[tuple[Shop, str]],
    products: list[str],
    roots: Mapping[int, Group],
    seconds: float,
    warmup_s: float,
) -> list[ReadCost]:
    readers = []
    for n, (shopper, _address) in enumerate(people):
        own = [products[(2 * n) % len(products)], products[(2 * n + 1) % len(products)]]
        readers.append(Reader(shopper, own, products, random.Random(n)))
    await asyncio.gather(*(r.one_line_cart() for r in readers))
    costs = []
    for operation, weight in READS_PER_CHECKOUT.items():
        console.print(f"[dim]multi-process: {operation} alone, {seconds:g} s …[/]")
        marks: dict[bool, dict[Group, float]] = {}
        workers = [loop_of(getattr(r, operation)) for r in readers]
        tally, elapsed = await run_for(seconds, workers, warmup_s, marker(marks, roots))
        done = len(tally.latencies_ms)
        used = difference(marks[True], marks[False])
        costs.append(
            ReadCost(
                operation,
                weight,
                done,
                done / elapsed,
                tally.errors,
                {g: 1000 * cpu / max(done, 1) for g, cpu in used.items()},
            )
        )
    return costs


def per_checkout(
    costs: list[ReadCost], idle_ms_per_s: Mapping[Group, float] | None = None
) -> dict[Group, float]:
    """CPU ms of the reads that come with one checkout, by (part, role); net of what each
    part spends at rest when `idle_ms_per_s` is given."""
    total: dict[Group, float] = {}
    for cost in costs:
        ms_per_request = cost.cpu_ms
        if idle_ms_per_s is not None:
            ms_per_request = net_of_idle(cost.cpu_ms, idle_ms_per_s, cost.per_s)
        for group, ms in ms_per_request.items():
            total[group] = total.get(group, 0.0) + cost.per_checkout * ms
    return total
