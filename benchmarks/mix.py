"""A mixed shopper load on the embedded platform, as `shopfleet up` starts it.

`python -m benchmarks.mix [--shoppers 32] [--duration 20] [--quick]`

`shopfleet up` runs in its own process with its defaults (console logs, access log on, SQLite,
the Stripe emulator as its child); only the gateway's rate limits are out of the way and the
demo shop's stock is raised so that no checkout runs out. Each shopper has its own account and
address and loops without pause over operations weighted like Online Boutique's load
generator: browse a product 10, view the cart 3, add to cart 2, the front page (a product
list) 1, a full checkout 1 (one product into the cart, order, payment intent, confirm, then
`GET /orders/{id}` every `--poll-s` until the emulator's webhook has made it paid). Each
shopper draws its operations from a shuffled deck of those 17, so the mix holds over short
runs too.

An operation counts when it completes inside the measured window; requests/s counts every
answered request of the window (a checkout makes ≈ 8 of them). CPU is read from /proc for the
platform process, the emulator apart. The baseline is a bare FastAPI endpoint driven by the
same client with as many loops as shoppers, in the same run.

Errors are counted from the first request to the last, warm-up included, and printed; a run
with any error exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from benchmarks.load import Baseline, drive, measure_bare
from benchmarks.mix_report import report
from benchmarks.procs import children, copy_logs, cpu_seconds, shopfleet_up, temp_dir
from benchmarks.shoppers import Shop, checkout, prepare

WEIGHTS = {"browse": 10, "view_cart": 3, "add_to_cart": 2, "front_page": 1, "checkout": 1}
console = Console(stderr=True)


@dataclass
class MixTally:
    operations: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in WEIGHTS})
    errors: dict[str, dict[str, int]] = field(default_factory=lambda: {n: {} for n in WEIGHTS})
    requests_ms: list[float] = field(default_factory=list)  # every answered request
    measuring: bool = False

    def answered(self, ms: float) -> None:
        if self.measuring:
            self.requests_ms.append(ms)

    def completed(self, operation: str, ms: float) -> None:
        if self.measuring:
            self.operations[operation].append(ms)

    def failed(self, operation: str, what: str) -> None:  # in any phase: never hidden
        self.errors[operation][what] = self.errors[operation].get(what, 0) + 1


@dataclass
class Visit:
    """What one shopper's operations need."""

    shopper: Shop
    address_id: str
    product_ids: list[str]
    poll_s: float
    rng: random.Random

    async def browse(self) -> None:
        await self.shopper.call("GET", f"/products/{self.rng.choice(self.product_ids)}")

    async def view_cart(self) -> None:
        await self.shopper.call("GET", "/cart")

    async def add_to_cart(self) -> None:
        body = {"product_id": self.rng.choice(self.product_ids), "quantity": 1}
        await self.shopper.call("POST", "/cart/items", body)

    async def front_page(self) -> None:
        await self.shopper.call("GET", "/products?limit=20")

    async def checkout(self) -> None:
        await checkout(self.shopper, self.address_id, self.product_ids, self.poll_s)


def shopper_loop(visit: Visit) -> Callable[[MixTally], Awaitable[None]]:
    deck: list[str] = []

    async def step(tally: MixTally) -> None:
        if not deck:
            deck.extend(name for name, weight in WEIGHTS.items() for _ in range(weight))
            visit.rng.shuffle(deck)
        name = deck.pop()
        started = time.perf_counter()
        try:
            await getattr(visit, name)()
        except Exception as exc:  # counted and shown, never hidden
            tally.failed(name, f"{type(exc).__name__}: {exc}"[:160])
            await asyncio.sleep(0.1)
            return
        tally.completed(name, (time.perf_counter() - started) * 1000)

    return step


@dataclass
class Options:
    shoppers: int
    duration_s: float
    warmup_s: float
    baseline_s: float
    poll_s: float
    keep_logs: bool


@dataclass
class MixResult:
    options: Options
    baseline: Baseline
    tally: MixTally
    elapsed_s: float
    platform_cpu_s: float
    emulator_cpu_s: float

    @property
    def requests_per_s(self) -> float:
        return len(self.tally.requests_ms) / self.elapsed_s

    @property
    def checkouts_per_s(self) -> float:
        return len(self.tally.operations["checkout"]) / self.elapsed_s

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.platform_cpu_s / max(len(self.tally.requests_ms), 1)

    @property
    def error_count(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.tally.errors.values())


async def measure(options: Options, tmp: Path) -> MixResult:
    console.print("[dim]baseline: bare FastAPI endpoint …[/]")
    baseline = await measure_bare(tmp, options.shoppers, options.baseline_s)
    async with shopfleet_up(tmp, {}, connections=options.shoppers * 2) as up:
        console.print(f"[dim]preparing {options.shoppers} shoppers …[/]")
        people, product_ids = await prepare(up.session, up.data_dir, options.shoppers, "mix")
        tally = MixTally()
        loops = []
        for n, (shopper, address_id) in enumerate(people):
            shopper.on_answer = tally.answered
            rng = random.Random(n)  # the same decks run after run
            loops.append(shopper_loop(Visit(shopper, address_id, product_ids, options.poll_s, rng)))
        marks: dict[bool, tuple[float, float]] = {}

        def window(start: bool) -> None:
            emulator = sum(cpu_seconds(pid) for pid in children(up.proc.pid))
            marks[start] = (cpu_seconds(up.proc.pid), emulator)

        console.print(f"[dim]measuring {options.duration_s:g} s …[/]")
        elapsed = await drive(tally, options.duration_s, loops, options.warmup_s, window)
    return MixResult(
        options,
        baseline,
        tally,
        elapsed,
        platform_cpu_s=marks[False][0] - marks[True][0],
        emulator_cpu_s=marks[False][1] - marks[True][1],
    )


def exit_status(result: MixResult) -> int:
    """1 when anything failed (of the mix or of the baseline), else 0."""
    return 1 if result.error_count or result.baseline.errors else 0


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, help="concurrent shoppers (32; --quick: 8)")
    parser.add_argument("--duration", type=float, help="measured seconds (20; --quick: 4)")
    parser.add_argument("--warmup", type=float, help="seconds before the window (5; --quick: 1)")
    parser.add_argument("--baseline-duration", type=float, help="bare endpoint (5; --quick: 1)")
    parser.add_argument("--poll-s", type=float, default=0.1, help="order status poll interval")
    parser.add_argument("--quick", action="store_true", help="a short run: does it all work?")
    parser.add_argument("--keep-logs", action="store_true", help="copy server logs to ./bench-*")
    args = parser.parse_args(argv)

    def pick(given: float | None, full: float, quick: float) -> float:
        return given if given is not None else quick if args.quick else full

    return Options(
        shoppers=int(pick(args.shoppers, 32, 8)),
        duration_s=pick(args.duration, 20.0, 4.0),
        warmup_s=pick(args.warmup, 5.0, 1.0),
        baseline_s=pick(args.baseline_duration, 5.0, 1.0),
        poll_s=args.poll_s,
        keep_logs=args.keep_logs,
    )


async def main_async(options: Options) -> int:
    async with temp_dir() as tmp:
        result = await measure(options, tmp)
        if options.keep_logs:
            copy_logs(tmp, Path.cwd())
    report(result)
    return exit_status(result)


def main() -> None:
    sys.exit(asyncio.run(main_async(parse_options(sys.argv[1:]))))


if __name__ == "__main__":
    main()
