"""A mix run printed, and held against issue 16's target for the embedded platform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from benchmarks.load import percentiles

if TYPE_CHECKING:
    from benchmarks.mix import MixResult


@dataclass(frozen=True)
class Target:
    shoppers: int
    requests_per_s: float
    p99_ms: float  # of every request

    def misses(self, result: MixResult) -> list[str]:
        """What the run falls short of; empty when it meets the target."""
        _, p99 = percentiles(result.tally.requests_ms)
        missed = []
        if result.requests_per_s < self.requests_per_s:
            missed.append(f"{result.requests_per_s:,.0f} req/s < {self.requests_per_s:,.0f}")
        if not p99 <= self.p99_ms:
            missed.append(f"p99 {p99:.0f} ms > {self.p99_ms:.0f} ms")
        if result.error_count:
            missed.append(f"{result.error_count} errors")
        return missed


# Issue 16, "a mixed shopper load at 32 shoppers on `shopfleet up`".
TARGET = Target(shoppers=32, requests_per_s=500, p99_ms=100)


def report(result: MixResult) -> None:
    out, options, tally = Console(), result.options, result.tally
    table = Table(
        title=f"Shopper mix on `shopfleet up` (its defaults): {options.shoppers} shoppers, "
        f"{result.elapsed_s:.1f} s after {options.warmup_s:g} s of warm-up"
    )
    for column in ("operation", "count", "per s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for name, latencies in tally.operations.items():
        p50, p99 = percentiles(latencies)
        errors = sum(tally.errors[name].values())
        table.add_row(
            name,
            f"{len(latencies):,}",
            f"{len(latencies) / result.elapsed_s:,.1f}",
            f"{p50:.1f}",
            f"{p99:.1f}",
            f"[red]{errors}[/]" if errors else "0",
        )
    p50, p99 = percentiles(tally.requests_ms)
    table.add_row(
        "every request",
        f"{len(tally.requests_ms):,}",
        f"{result.requests_per_s:,.1f}",
        f"{p50:.1f}",
        f"{p99:.1f}",
        str(result.error_count),
        style="bold",
    )
    bare = result.baseline
    table.add_row(
        "bare FastAPI endpoint",
        "",
        f"{bare.per_s:,.0f}",
        f"{bare.p50_ms:.1f}",
        f"{bare.p99_ms:.1f}",
        f"[red]{bare.errors}[/]" if bare.errors else "0",
        style="dim",
    )
    out.print(table)
    cpu_ratio = (
        result.cpu_ms_per_request / bare.cpu_ms_per_request if bare.cpu_ms_per_request else 0
    )
    speed = result.requests_per_s / bare.per_s
    out.print(
        f"requests/s {result.requests_per_s:,.1f} ({speed:.3f}× bare), "
        f"checkouts/s {result.checkouts_per_s:.2f}; platform CPU "
        f"{result.platform_cpu_s / result.elapsed_s:.2f} cores busy, "
        f"{result.cpu_ms_per_request:.2f} ms a request ({cpu_ratio:.1f}× bare's "
        f"{bare.cpu_ms_per_request:.3f} ms); Stripe emulator "
        f"{result.emulator_cpu_s / result.elapsed_s:.2f} cores busy"
    )
    for name, kinds in tally.errors.items():
        for what, count in sorted(kinds.items(), key=lambda kv: -kv[1])[:5]:
            out.print(f"[red]{count} × {name}: {what}")
    if options.shoppers != TARGET.shoppers:
        out.print(f"[dim]target (issue 16) is set at {TARGET.shoppers} shoppers: not judged[/]")
        return
    missed = TARGET.misses(result)
    goal = f"≥ {TARGET.requests_per_s:g} req/s, p99 ≤ {TARGET.p99_ms:g} ms, 0 errors"
    if missed:
        out.print(f"[yellow]target (issue 16: {goal}) missed: {'; '.join(missed)}")
    else:
        out.print(f"[green]target (issue 16: {goal}) met")
