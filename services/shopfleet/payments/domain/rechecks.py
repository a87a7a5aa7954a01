"""When the reconciler asks Stripe about a payment or refund still unsettled."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF_S = 3600.0


def first_check_at(now: datetime, reconcile_after_s: float) -> datetime:
    """When the reconciler first asks Stripe about something unsettled changed `now`."""
    return now + timedelta(seconds=reconcile_after_s)


def recheck_delay_s(checks: int, reconcile_after_s: float) -> float:
    """How long until the reconciler asks Stripe again: doubling, at most an hour, ≥ 1 s."""
    return max(min(MAX_BACKOFF_S, reconcile_after_s * 2.0 ** min(checks, 16)), 1.0)
