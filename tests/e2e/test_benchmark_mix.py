"""`benchmarks.mix --quick` for real: `shopfleet up` in its own process, the Stripe emulator
its child, a few shoppers through every operation of the mix.

No timing is asserted (the machine's load decides it): the run must complete every kind of
operation, fail none, and account each one in its requests and the platform's CPU.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.mix import WEIGHTS, exit_status, measure, parse_options


async def test_a_quick_mix_completes_every_operation_without_errors(tmp_path: Path) -> None:
    # 10 s rather than --quick's 4: on a loaded CI machine a checkout alone can take 4 s,
    # and every kind of operation must complete inside the window.
    options = parse_options(["--quick", "--shoppers", "4", "--duration", "10"])
    assert (options.shoppers, options.duration_s) == (4, 10.0)

    result = await measure(options, tmp_path)

    done = {name: len(latencies) for name, latencies in result.tally.operations.items()}
    assert all(done[name] > 0 for name in WEIGHTS), done
    assert result.tally.errors == {name: {} for name in WEIGHTS}
    assert result.baseline.errors == 0 and result.baseline.per_s > 0
    assert exit_status(result) == 0
    # Each operation done in the window had its last request answered in it.
    assert len(result.tally.requests_ms) >= sum(done.values())
    assert result.platform_cpu_s > 0 and result.cpu_ms_per_request > 0


def test_an_error_makes_the_exit_status_fail() -> None:
    from benchmarks.load import Baseline
    from benchmarks.mix import MixResult, MixTally

    tally = MixTally()
    tally.failed("checkout", "POST /orders: 409 {...}")
    baseline = Baseline(per_s=1.0, p50_ms=1.0, p99_ms=1.0, cpu_ms_per_request=0.1, errors=0)
    result = MixResult(parse_options(["--quick"]), baseline, tally, 1.0, 0.1, 0.0)

    assert result.error_count == 1
    assert exit_status(result) == 1
