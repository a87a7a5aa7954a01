"""From CPU per complete checkout, by part, to the replicas and cores a cluster needs.

Assumptions (benchmarks/README.md, "Capacity"): a replica is one single-threaded Python
process (`shopfleet serve`), which one core keeps at most BUSY busy; a checkout brings the
mix's reads with it (`mix_reads.READS_PER_CHECKOUT`), so a part's load is its checkout CPU
plus its share of those reads, both net of what the part spends at rest; what it spends at
rest (health probes, relays and consumers polling) is each replica's fixed cost, taken off
the BUSY a replica has for work. PostgreSQL, RabbitMQ and Redis are outside the count. The
sidecar is counted apart: here it is the Python double (daprd's own CPU is not measured).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.part_cpu import APP, DOUBLE, Group

BUSY = 0.7  # of one core, at most, for one single-threaded replica
RATES = (100, 1000)  # complete checkouts per second


@dataclass(frozen=True)
class PartLoad:
    """CPU ms a part spends per complete checkout (the checkout's reads included)."""

    part: str
    checkout_app_ms: float
    checkout_double_ms: float
    reads_app_ms: float
    reads_double_ms: float
    idle_app_ms_per_s: float = 0.0  # at rest, per replica
    idle_double_ms_per_s: float = 0.0

    @property
    def app_ms(self) -> float:
        return self.checkout_app_ms + self.reads_app_ms

    @property
    def double_ms(self) -> float:
        return self.checkout_double_ms + self.reads_double_ms

    def replicas(self, per_s: float) -> int:
        """App processes to carry `per_s` checkouts, each at most BUSY of its core with
        its own rest included."""
        room = BUSY - self.idle_app_ms_per_s / 1000
        return max(1, math.ceil(per_s * self.app_ms / 1000 / room))

    def sidecar_cores(self, per_s: float) -> float:
        """Cores the doubles would take at `per_s`, at the same BUSY, one double per
        replica (daprd's would differ: not measured)."""
        work = per_s * self.double_ms / 1000
        return (work + self.replicas(per_s) * self.idle_double_ms_per_s / 1000) / BUSY


def part_loads(
    checkout_ms: Mapping[Group, float],
    reads_ms: Mapping[Group, float],
    idle_ms_per_s: Mapping[Group, float] | None = None,
) -> list[PartLoad]:
    """Every part that spent CPU, the busiest first (emulator groups are left out).
    `checkout_ms` and `reads_ms` net of `idle_ms_per_s` when that is given."""
    idle = idle_ms_per_s or {}
    parts = {part for part, role in [*checkout_ms, *reads_ms] if role in (APP, DOUBLE)}
    loads = [
        PartLoad(
            part,
            checkout_ms.get((part, APP), 0.0),
            checkout_ms.get((part, DOUBLE), 0.0),
            reads_ms.get((part, APP), 0.0),
            reads_ms.get((part, DOUBLE), 0.0),
            idle.get((part, APP), 0.0),
            idle.get((part, DOUBLE), 0.0),
        )
        for part in parts
    ]
    return sorted(loads, key=lambda load: -(load.app_ms + load.double_ms))


def total_replicas(loads: list[PartLoad], per_s: float) -> int:
    """Also the cores the apps need: one core per replica."""
    return sum(load.replicas(per_s) for load in loads)


def total_sidecar_cores(loads: list[PartLoad], per_s: float) -> float:
    return sum(load.sidecar_cores(per_s) for load in loads)
