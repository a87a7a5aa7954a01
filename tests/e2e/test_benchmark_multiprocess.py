"""`benchmarks.multiprocess --quick --no-listing` for real, the multi-process half: every
service and the gateway with its sidecar double on PostgreSQL, a few checkouts, then the
mix's reads one at a time.

No timing is asserted (the machine's load decides it): the checkouts and reads must
complete without errors, and the CPU per checkout must be split over every part, each
with its app process and its double, the Stripe emulator apart.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.capacity import RATES, part_loads
from benchmarks.mix_reads import READS_PER_CHECKOUT, per_checkout
from benchmarks.multiprocess import parse_args, run_multiprocess
from benchmarks.part_cpu import APP, DOUBLE, EMULATOR
from shopfleet.dev.plan import GATEWAY
from shopfleet.services import SERVICES
from tests.conftest import PG_HOST, PG_PORT, PG_USER, require_service
from tests.support.redis import REDIS_HOST, REDIS_PORT, REDIS_URL
from tests.support.sidecar_double import AMQP_HOST, AMQP_PORT, AMQP_URL


async def test_a_quick_run_splits_the_checkout_cpu_over_every_part(tmp_path: Path) -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    require_service("RabbitMQ", AMQP_HOST, AMQP_PORT)
    admin_dsn = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
    stores = ["--pg-admin-dsn", admin_dsn, "--redis-url", REDIS_URL, "--amqp-url", AMQP_URL]
    args = parse_args(["--quick", "--no-listing", *stores])

    run = await run_multiprocess(None, args, tmp_path)

    checkouts = run.checkouts
    assert checkouts is not None and run.listings == []
    assert checkouts.completed > 0 and checkouts.error_kinds == {}
    assert checkouts.requests >= 4 * checkouts.completed  # cart, order, intent, confirm, polls
    split = checkouts.cpu_ms_by_group
    for part in [*SERVICES, GATEWAY]:
        assert split.get((part, APP), 0) > 0, (part, split)
        assert split.get((part, DOUBLE), 0) > 0, (part, split)
    assert split.get(("payments", EMULATOR), 0) > 0, split  # the emulator is counted apart
    assert checkouts.cpu_ms_per_checkout == sum(
        ms for (_, role), ms in split.items() if role != EMULATOR
    )
    assert checkouts.counters is not None and sum(checkouts.counters.commits.values()) > 0

    assert [c.operation for c in run.reads] == list(READS_PER_CHECKOUT)
    for cost in run.reads:
        assert cost.requests > 0 and cost.errors == {}, cost
        assert cost.cpu_ms.get((GATEWAY, APP), 0) > 0, cost
    assert {part for part, _ in run.idle_ms_per_s} >= {*SERVICES, GATEWAY}
    loads = part_loads(split, per_checkout(run.reads, run.idle_ms_per_s), run.idle_ms_per_s)
    assert {load.part for load in loads} == {*SERVICES, GATEWAY}
    assert all(load.replicas(rate) >= 1 for load in loads for rate in RATES)
