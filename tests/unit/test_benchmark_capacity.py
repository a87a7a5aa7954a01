"""The capacity section's bookkeeping (benchmarks/part_cpu.py, benchmarks/capacity.py):
which process a CPU second belongs to, and how CPU per checkout becomes replicas."""

from __future__ import annotations

from benchmarks.capacity import PartLoad, part_loads, total_replicas
from benchmarks.part_cpu import APP, DOUBLE, EMULATOR, Proc, group_of, net_of_idle

ROOTS = {100: ("payments", APP), 101: ("payments", DOUBLE), 200: ("cart", APP)}
PROCS = {
    1: Proc(0, 0.0, "python -m benchmarks.multiprocess"),
    100: Proc(1, 5.0, "python -m shopfleet.cli serve payments"),
    101: Proc(1, 2.0, "python -m shopfleet.devtools.sidecar_double --app-id payments"),
    102: Proc(100, 1.0, "python -m shopfleet.payments.emulator_main --fd 7"),
    103: Proc(102, 0.5, "python -c a grandchild of the emulator"),
    104: Proc(100, 0.3, "python -c some other child of payments"),
    200: Proc(1, 3.0, "python -m shopfleet.cli serve cart"),
    300: Proc(1, 9.0, "postgres: a process of no part"),
}


def test_each_process_counts_for_the_part_and_role_of_the_root_it_descends_from() -> None:
    assert group_of(100, PROCS, ROOTS) == ("payments", APP)
    assert group_of(101, PROCS, ROOTS) == ("payments", DOUBLE)
    assert group_of(104, PROCS, ROOTS) == ("payments", APP)  # a child: its parent's
    assert group_of(200, PROCS, ROOTS) == ("cart", APP)
    assert group_of(300, PROCS, ROOTS) is None
    assert group_of(1, PROCS, ROOTS) is None


def test_the_stripe_emulator_and_its_children_are_counted_apart() -> None:
    assert group_of(102, PROCS, ROOTS) == ("payments", EMULATOR)
    assert group_of(103, PROCS, ROOTS) == ("payments", EMULATOR)


def test_cpu_at_rest_is_taken_off_each_unit_of_work_never_below_zero() -> None:
    per_checkout = {("cart", APP): 10.0, ("cart", DOUBLE): 1.0}
    at_rest = {("cart", APP): 20.0, ("cart", DOUBLE): 50.0}  # ms per second

    net = net_of_idle(per_checkout, at_rest, units_per_s=4.0)

    assert net == {("cart", APP): 5.0, ("cart", DOUBLE): 0.0}


def test_replicas_carry_the_rate_at_most_70_percent_busy_with_their_rest() -> None:
    load = PartLoad("orders", 50.0, 20.0, 20.0, 10.0)  # 70 ms of app CPU per checkout

    assert load.replicas(10) == 1  # 0.7 s of CPU a second: exactly one replica's share
    assert load.replicas(11) == 2
    assert load.replicas(100) == 10
    assert load.sidecar_cores(100) == 100 * 0.030 / 0.7

    resting = PartLoad("orders", 50.0, 20.0, 20.0, 10.0, idle_app_ms_per_s=140.0)
    assert resting.replicas(100) == 13  # 7 cores of work, 0.56 of each core left for it


def test_part_loads_add_the_reads_to_the_checkout_and_sort_the_busiest_first() -> None:
    checkout = {("orders", APP): 60.0, ("gateway", APP): 10.0, ("payments", EMULATOR): 5.0}
    reads = {("gateway", APP): 40.0, ("gateway", DOUBLE): 20.0}

    loads = part_loads(checkout, reads)

    assert [(x.part, x.app_ms, x.double_ms) for x in loads] == [
        ("gateway", 50.0, 20.0),
        ("orders", 60.0, 0.0),
    ]
    assert total_replicas(loads, 100) == 8 + 9
