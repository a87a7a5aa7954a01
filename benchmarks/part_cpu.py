"""CPU of the multi-process platform split by part (each service, the gateway) and role
(its app process, its sidecar double), read from /proc.

`MultiProcessPlatform` starts two processes per part, `shopfleet serve <name>` and
`python -m shopfleet.devtools.sidecar_double --app-id <name>`, each the root of a session
of its own (`Proc`). A process belongs to the part and role of the root it descends from.
The only child any of them starts is payments' Stripe emulator
(`python -m shopfleet.payments.emulator_main`, payments/emulator.py): it stands for Stripe,
not for the platform, so it and its descendants are counted on their own ("emulator").

A group's CPU is the user + system time of its living members plus the time of the
children they have reaped (cutime, cstime): a member that exits inside a window still
counts, and the difference of two snapshots is exact for every group (one caveat: an
emulator reaped by payments inside the window would land in payments' app).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
EMULATOR_MODULE = "shopfleet.payments.emulator_main"
APP, DOUBLE, EMULATOR = "app", "double", "emulator"

Group = tuple[str, str]  # (part, role)


@dataclass(frozen=True)
class Proc:
    ppid: int
    cpu_s: float  # its own and its reaped children's
    command: str


def read_proc(pid: int) -> Proc | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError):
        return None  # gone meanwhile
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return Proc(int(fields[1]), (utime + stime + cutime + cstime) / TICKS, command)


def all_processes() -> dict[int, Proc]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(ValueError):
                proc = read_proc(int(entry.name))
                if proc is not None:
                    found[int(entry.name)] = proc
    return found


def group_of(pid: int, procs: Mapping[int, Proc], roots: Mapping[int, Group]) -> Group | None:
    """The (part, role) of the root `pid` descends from; the emulator's own role."""
    emulator = False
    while pid in procs:
        emulator = emulator or EMULATOR_MODULE in procs[pid].command
        if pid in roots:
            part, role = roots[pid]
            return (part, EMULATOR) if emulator else (part, role)
        pid = procs[pid].ppid
    return None


def snapshot(roots: Mapping[int, Group]) -> dict[Group, float]:
    """CPU seconds so far of every group that has a member (see the module's docstring)."""
    procs = all_processes()
    totals: dict[Group, float] = {}
    for pid, proc in procs.items():
        group = group_of(pid, procs, roots)
        if group is not None:
            totals[group] = totals.get(group, 0.0) + proc.cpu_s
    return totals


def difference(start: Mapping[Group, float], end: Mapping[Group, float]) -> dict[Group, float]:
    return {g: end.get(g, 0.0) - start.get(g, 0.0) for g in set(start) | set(end)}


async def idle_rates(roots: Mapping[int, Group], seconds: float) -> dict[Group, float]:
    """CPU ms per second of every group with no load at all (health probes, relays and
    consumers polling): a replica's fixed cost, not a checkout's."""
    start = snapshot(roots)
    await asyncio.sleep(seconds)
    return {g: 1000 * cpu / seconds for g, cpu in difference(start, snapshot(roots)).items()}


def net_of_idle(
    ms_per_unit: Mapping[Group, float], idle_ms_per_s: Mapping[Group, float], units_per_s: float
) -> dict[Group, float]:
    """Per unit of work, less what each group spends at rest over the time one unit took."""
    return {
        g: max(0.0, ms - idle_ms_per_s.get(g, 0.0) / max(units_per_s, 1e-9))
        for g, ms in ms_per_unit.items()
    }
