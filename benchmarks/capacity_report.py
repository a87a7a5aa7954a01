"""The multi-process platform's CPU per checkout by part, the reads that come with a
checkout, what the backing services did, and the replicas and cores that follows from it
(benchmarks.capacity) — as rich tables, for `benchmarks.multiprocess`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from benchmarks.capacity import BUSY, RATES, part_loads, total_replicas, total_sidecar_cores
from benchmarks.mix_reads import READS_PER_CHECKOUT, ReadCost, per_checkout
from benchmarks.part_cpu import APP, DOUBLE, EMULATOR, Group, net_of_idle

if TYPE_CHECKING:
    from benchmarks.backing import Counters
    from benchmarks.multiprocess import Checkouts, MultiProcessRun

TARGET_MS = 40.0  # issue 16: platform CPU per checkout, multi-process, doubles excluded


def role_total(ms: Mapping[Group, float], role: str) -> float:
    return sum(v for (_, r), v in ms.items() if r == role)


def split_table(checkouts: Checkouts, idle: Mapping[Group, float]) -> Table:
    gross = checkouts.cpu_ms_by_group
    net = net_of_idle(gross, idle, checkouts.per_s)
    table = Table(
        title=f"CPU ms per complete checkout by part, multi-process ({checkouts.completed} "
        f"checkouts, {checkouts.per_s:.1f}/s, "
        f"{checkouts.requests / max(checkouts.completed, 1):.1f} requests each with the status "
        f"polls, {checkouts.errors} errors); net: less each process's CPU at rest"
    )
    columns = ["part", "app", "double", "app + double", "app net", "double net"]
    columns += ["at rest: app ms/s", "double ms/s"]
    for column in columns:
        table.add_column(column, justify="left" if column == "part" else "right")

    def figures(where: Mapping[Group, float], part: str) -> tuple[float, float]:
        return where.get((part, APP), 0.0), where.get((part, DOUBLE), 0.0)

    parts = sorted(
        {part for part, role in gross if role != EMULATOR}, key=lambda p: -sum(figures(gross, p))
    )
    for part in parts:
        app, double = figures(gross, part)
        app_net, double_net = figures(net, part)
        app_idle, double_idle = figures(idle, part)
        table.add_row(
            part,
            *(f"{x:.1f}" for x in (app, double, app + double, app_net, double_net)),
            *(f"{x:.1f}" for x in (app_idle, double_idle)),
        )
    apps, doubles = role_total(gross, APP), role_total(gross, DOUBLE)
    apps_net, doubles_net = role_total(net, APP), role_total(net, DOUBLE)
    verdict = "met" if apps <= TARGET_MS else "missed"
    table.add_section()
    table.add_row(
        f"all, doubles excluded (target ≤ {TARGET_MS:.0f}: {verdict})",
        f"{apps:.1f}",
        "",
        "",
        f"{apps_net:.1f}",
        "",
        f"{role_total(idle, APP):.1f}",
        "",
    )
    table.add_row("all doubles", "", f"{doubles:.1f}", "", "", f"{doubles_net:.1f}", "", "")
    table.add_row(
        "all",
        f"{apps:.1f}",
        f"{doubles:.1f}",
        f"{apps + doubles:.1f}",
        f"{apps_net:.1f}",
        f"{doubles_net:.1f}",
        f"{role_total(idle, APP):.1f}",
        f"{role_total(idle, DOUBLE):.1f}",
    )
    table.add_row("Stripe emulator (apart)", f"{role_total(gross, EMULATOR):.1f}", *[""] * 6)
    return table


def reads_table(costs: list[ReadCost]) -> Table:
    table = Table(title="The mix's reads alone, multi-process: CPU ms per request")
    columns = ["operation", "per checkout", "req/s", "requests", "apps", "doubles", "errors"]
    columns.append("app / double by part, the busiest first")
    for column in columns:
        table.add_column(column, justify="right" if column in columns[1:-1] else "left")
    for c in costs:
        parts = {part for part, role in c.cpu_ms if role != EMULATOR}
        busy = sorted(
            parts, key=lambda p: -(c.cpu_ms.get((p, APP), 0) + c.cpu_ms.get((p, DOUBLE), 0))
        )
        by_part = ", ".join(
            f"{p} {c.cpu_ms.get((p, APP), 0):.2f}/{c.cpu_ms.get((p, DOUBLE), 0):.2f}"
            for p in busy
            if c.cpu_ms.get((p, APP), 0) + c.cpu_ms.get((p, DOUBLE), 0) >= 0.1
        )
        table.add_row(
            c.operation,
            str(c.per_checkout),
            f"{c.per_s:.0f}",
            str(c.requests),
            f"{role_total(c.cpu_ms, APP):.2f}",
            f"{role_total(c.cpu_ms, DOUBLE):.2f}",
            str(sum(c.errors.values())),
            by_part,
        )
    return table


def capacity_table(
    checkout_ms: Mapping[Group, float],
    reads_ms: Mapping[Group, float],
    idle_ms_per_s: Mapping[Group, float],
) -> Table:
    loads = part_loads(checkout_ms, reads_ms, idle_ms_per_s)
    table = Table(
        title=f"Replicas per part (one single-threaded process, ≤ {BUSY:.0%} of a core, its rest "
        "included) for complete checkouts with their reads; CPU ms per checkout, net of rest"
    )
    columns = ["part", "checkout app", "reads app", "app", "double", "app at rest ms/s"]
    columns += [f"replicas @{r}/s" for r in RATES]
    columns += [f"double cores @{r}/s" for r in RATES]
    for column in columns:
        table.add_column(column, justify="left" if column == "part" else "right")
    for load in loads:
        table.add_row(
            load.part,
            f"{load.checkout_app_ms:.1f}",
            f"{load.reads_app_ms:.1f}",
            f"{load.app_ms:.1f}",
            f"{load.double_ms:.1f}",
            f"{load.idle_app_ms_per_s:.1f}",
            *(str(load.replicas(r)) for r in RATES),
            *(f"{load.sidecar_cores(r):.1f}" for r in RATES),
        )
    table.add_section()
    table.add_row(
        "all (app replicas = their cores)",
        f"{sum(x.checkout_app_ms for x in loads):.1f}",
        f"{sum(x.reads_app_ms for x in loads):.1f}",
        f"{sum(x.app_ms for x in loads):.1f}",
        f"{sum(x.double_ms for x in loads):.1f}",
        f"{sum(x.idle_app_ms_per_s for x in loads):.1f}",
        *(str(total_replicas(loads, r)) for r in RATES),
        *(f"{total_sidecar_cores(loads, r):.1f}" for r in RATES),
    )
    return table


def backing_lines(counters: Counters, completed: int) -> list[str]:
    n = max(completed, 1)
    commits = sum(counters.commits.values())
    rows = sum(counters.rows_written.values())
    by_service = ", ".join(
        f"{s} {counters.commits[s] / n:.1f}/{counters.rows_written.get(s, 0) / n:.1f}"
        for s in sorted(counters.commits, key=lambda s: -counters.commits[s])
    )
    lines = [
        f"PostgreSQL per checkout (approximate): {commits / n:.1f} commits, {rows / n:.1f} rows "
        f"written; commits/rows by service: {by_service}"
    ]
    if counters.published is not None and counters.delivered is not None:
        lines.append(
            f"RabbitMQ per checkout (approximate, 5 s samples): {counters.published / n:.1f} "
            f"published, {counters.delivered / n:.1f} delivered"
        )
    if counters.redis_commands is not None:
        lines.append(
            f"Redis per checkout: {counters.redis_commands / n:.1f} commands "
            "(the whole server's count: anyone else's commands included)"
        )
    for rate in RATES:
        lines.append(
            f"at {rate}/s: PostgreSQL {rate * commits / n:,.0f} commits/s, "
            f"{rate * rows / n:,.0f} rows/s"
            + (
                f"; RabbitMQ {rate * counters.published / n:,.0f} messages/s in"
                if counters.published is not None
                else ""
            )
        )
    return lines


def report_capacity(out: Console, run: MultiProcessRun) -> None:
    checkouts, reads, idle = run.checkouts, run.reads, run.idle_ms_per_s
    if checkouts is None:
        return
    out.print(split_table(checkouts, idle))
    if checkouts.counters is not None:
        for line in backing_lines(checkouts.counters, checkouts.completed):
            out.print(line)
    if reads:
        out.print(reads_table(reads))
        weights = ", ".join(f"{n} {w}" for n, w in READS_PER_CHECKOUT.items())
        gross, net = per_checkout(reads), per_checkout(reads, idle)
        out.print(
            f"reads per checkout ({weights}): apps {role_total(gross, APP):.1f} ms "
            f"(net of rest {role_total(net, APP):.1f}), doubles {role_total(gross, DOUBLE):.1f} "
            f"ms (net {role_total(net, DOUBLE):.1f})"
        )
        for c in reads:
            for what, count in sorted(c.errors.items(), key=lambda kv: -kv[1])[:3]:
                out.print(f"[red]{c.operation}: {count} × {what}")
    checkout_net = net_of_idle(checkouts.cpu_ms_by_group, idle, checkouts.per_s)
    out.print(capacity_table(checkout_net, per_checkout(reads, idle), idle))
