"""The day a quota counts in is the UTC day; its Retry-After runs to the UTC midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from shopfleet.kit.quotas import seconds_to_utc_midnight, start_of_utc_day


def test_the_day_starts_at_midnight_utc_whatever_the_clock_s_zone() -> None:
    berlin_early = datetime(2026, 12, 8, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert start_of_utc_day(berlin_early) == datetime(2026, 12, 7, tzinfo=UTC)


def test_retry_after_runs_to_the_next_utc_midnight_and_is_never_zero() -> None:
    assert seconds_to_utc_midnight(datetime(2026, 12, 7, 23, 0, tzinfo=UTC)) == 3600
    assert seconds_to_utc_midnight(datetime(2026, 12, 7, 23, 59, 59, 500_000, tzinfo=UTC)) == 1
    assert seconds_to_utc_midnight(datetime(2026, 12, 7, 0, 0, tzinfo=UTC)) == 86400
