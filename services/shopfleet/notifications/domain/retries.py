"""What becomes of a delivery after one attempt to send it: delivered, tried again after a
back-off, or given up. Pure: the worker sends, the store writes what this decides.

- sent: `delivered`, `delivered_at`;
- failed for now: `attempts` + 1, `last_error`, next attempt after `backoff_s * 2**(n-1)`
  (n: failed attempts so far, at most `max_backoff_s`);
- failed for good (a permanent error, or `max_attempts` reached): `failed`, given up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MAX_ERROR = 2000  # what `last_error` keeps of an error's text


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at `next_attempt_at` (a worker holds it until then while sending)
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: a permanent error, or `max_attempts` reached


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_s: float = 30.0
    max_backoff_s: float = 3600.0

    def delay_s(self, failed_attempts: int) -> float:
        """The wait after the `failed_attempts`-th failure (1: `backoff_s`)."""
        return min(self.max_backoff_s, self.backoff_s * 2.0 ** max(failed_attempts - 1, 0))


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt failed; `permanent` when trying again cannot help."""

    error: str
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class Attempted:
    """A delivery after an attempt: the columns the store writes. `last_error` None keeps
    the one stored: a delivery that went through after failures still says why they failed."""

    status: DeliveryStatus
    attempts: int
    last_attempt_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None

    @property
    def retry_in_s(self) -> float | None:
        """How long until the next attempt (None: no more attempts)."""
        if self.next_attempt_at is None:
            return None
        return (self.next_attempt_at - self.last_attempt_at).total_seconds()


def after_attempt(
    attempts_before: int, failure: Failure | None, policy: RetryPolicy, *, now: datetime
) -> Attempted:
    """The delivery after its `attempts_before + 1`-th attempt, which `failure` says how
    went (None: sent)."""
    attempts = attempts_before + 1
    if failure is None:
        return Attempted(DeliveryStatus.DELIVERED, attempts, now, None, now, None)
    error = failure.error[:MAX_ERROR]
    if failure.permanent or attempts >= policy.max_attempts:
        return Attempted(DeliveryStatus.FAILED, attempts, now, None, None, error)
    retry_at = now + timedelta(seconds=policy.delay_s(attempts))
    return Attempted(DeliveryStatus.PENDING, attempts, now, retry_at, None, error)
