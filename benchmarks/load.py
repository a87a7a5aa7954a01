"""Closed-loop load from one asyncio driver: workers in loops, a measured window after a
warm-up, percentiles, and the bare FastAPI baseline driven the same way."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import aiohttp

from benchmarks.procs import bare_server, cpu_seconds


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    measuring: bool = False
    late: int = 0  # paced runs: checkouts that started > LATE_S after their scheduled time

    def error(self, what: str) -> None:
        if self.measuring:
            self.errors[what] = self.errors.get(what, 0) + 1


class Window(Protocol):
    measuring: bool  # true while the measured window is open


T = TypeVar("T", bound=Window)
Worker = Callable[[Tally], Awaitable[None]]


async def drive(
    tally: T,
    seconds: float,
    workers: list[Callable[[T], Awaitable[None]]],
    warmup_s: float,
    on_window: Callable[[bool], None],
) -> float:
    """Run every worker in a loop; `tally.measuring` only for the `seconds` after
    `warmup_s` (`on_window` is told when the window opens and closes). Returns the window's
    length; the workers finish what they are doing before it returns."""
    stop = asyncio.Event()

    async def loop(worker: Callable[[T], Awaitable[None]]) -> None:
        while not stop.is_set():
            await worker(tally)

    tasks = [asyncio.create_task(loop(w)) for w in workers]
    await asyncio.sleep(warmup_s)
    on_window(True)
    tally.measuring, started = True, time.perf_counter()
    await asyncio.sleep(seconds)
    tally.measuring, elapsed = False, time.perf_counter() - started
    on_window(False)
    stop.set()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):  # a worker's own bug: never a silent pass
            raise outcome
    return elapsed


async def run_for(
    seconds: float, workers: list[Worker], warmup_s: float, on_window: Callable[[bool], None]
) -> tuple[Tally, float]:
    tally = Tally()
    return tally, await drive(tally, seconds, workers, warmup_s, on_window)


def percentiles(latencies_ms: list[float]) -> tuple[float, float]:
    """p50 and p99 (nan when there is nothing to rank)."""
    ranked = sorted(latencies_ms) or [float("nan")]
    return statistics.median(ranked), ranked[min(len(ranked) - 1, int(len(ranked) * 0.99))]


@dataclass
class Baseline:
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    errors: int


async def measure_bare(tmp: Path, clients: int, seconds: float) -> Baseline:
    """The bare FastAPI endpoint, `clients` loops of `GET /ping` for `seconds`."""
    async with bare_server(tmp, clients) as bare:

        async def ping(tally: Tally) -> None:
            started = time.perf_counter()
            try:
                async with bare.session.get("/ping") as answer:
                    await answer.read()
            except aiohttp.ClientError as exc:
                tally.error(f"bare: {exc!r}"[:120])
                return
            if answer.status != 200:
                tally.error(f"bare {answer.status}")
            elif tally.measuring:
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)

        cpu: dict[bool, float] = {}

        def window(start: bool) -> None:
            cpu[start] = cpu_seconds(bare.proc.pid)

        tally, elapsed = await run_for(seconds, [ping] * clients, 1.0, window)
    answered = len(tally.latencies_ms)
    p50, p99 = percentiles(tally.latencies_ms)
    cpu_ms = 1000 * (cpu[False] - cpu[True]) / max(answered, 1)
    return Baseline(answered / elapsed, p50, p99, cpu_ms, sum(tally.errors.values()))
