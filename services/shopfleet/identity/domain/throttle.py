"""Login throttling's rules: what one account's or address's record allows, and how a
settled attempt changes it. `identity/throttle.py` keeps the records in the state store.

Lockouts are progressive, not fixed: `limit` failures are free, then each failure blocks the
record for `first_delay_s` · 2^k, capped (minutes for an account, an hour for an address),
and failures are forgotten after a quiet `window_s` past the last block. So one address
cannot keep an account locked (its own delays outgrow the account's), and an unlock lifts
an account's delays at once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shopfleet.identity.domain.refusals import LoginThrottled

Scope = Literal["account", "address"]
Outcome = Literal["failed", "succeeded", "released"]
BUSY_RETRY_S = 1  # a held attempt is settled within about one password check
KEY_PREFIX = "identity:login"


@dataclass(frozen=True, slots=True)
class Policy:
    limit: int  # failures before delays start
    max_delay_s: float


@dataclass(frozen=True, slots=True)
class Blocked:
    """A refusal: which limit was hit and how many seconds until a retry can succeed."""

    scope: Scope
    retry_after_s: int
    busy: bool = False  # the free attempts are all being checked right now

    def refusal(self) -> LoginThrottled:
        return LoginThrottled(self.scope, self.retry_after_s, busy=self.busy)


@dataclass(slots=True)
class ThrottleRecord:
    """What the state store holds per account or address (short keys: it is stored often)."""

    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0
    held: dict[str, float] = field(default_factory=dict)  # attempt id -> lease expiry

    @classmethod
    def load(cls, value: object, now: float, window_s: float) -> ThrottleRecord:
        """The record as of `now` from what the store held (anything else: a fresh one)."""
        if not isinstance(value, dict):
            return cls()
        try:
            held = value.get("h", {})
            record = cls(
                int(value.get("f", 0)),
                float(value.get("t", 0)),
                float(value.get("u", 0)),
                {str(k): float(v) for k, v in dict(held).items()},
            )
        except (TypeError, ValueError):  # written by someone else: start afresh
            return cls()
        if now - max(record.last_failure, record.blocked_until) >= window_s:
            record.failures = 0  # quiet for a whole window since the last block: forgotten
        record.held = {k: v for k, v in record.held.items() if v > now}
        return record

    def dump(self) -> dict[str, object]:
        return {"f": self.failures, "t": self.last_failure, "u": self.blocked_until, "h": self.held}

    def refusal(self, scope: Scope, policy: Policy, now: float) -> Blocked | None:
        if now < self.blocked_until:
            return Blocked(scope, max(1, math.ceil(self.blocked_until - now)))
        # Free attempts left, counting those being checked; past the limit, one at a time.
        room = policy.limit - self.failures if self.failures < policy.limit else 1
        if len(self.held) >= room:
            return Blocked(scope, BUSY_RETRY_S, busy=True)
        return None

    def fail(self, policy: Policy, first_delay_s: float, now: float) -> None:
        self.failures += 1
        self.last_failure = now
        if self.failures >= policy.limit:
            doublings = min(self.failures - policy.limit, 32)
            delay = min(policy.max_delay_s, first_delay_s * 2**doublings)
            self.blocked_until = max(self.blocked_until, now + delay)

    def forgive(self) -> None:
        self.failures, self.blocked_until = 0, 0.0

    def settle(
        self, scope: Scope, attempt_id: str, outcome: Outcome, rules: ThrottleRules, now: float
    ) -> None:
        """An attempt's answer: a failure counts, a success forgives the account (not the
        address), a release (an error, a cancelled request) only gives the place back."""
        self.held.pop(attempt_id, None)
        if outcome == "failed":
            self.fail(rules.policies[scope], rules.first_delay_s, now)
        elif outcome == "succeeded" and scope == "account":
            self.forgive()

    def ttl_s(self, window_s: float, now: float) -> int:
        # Kept until the failures would be forgotten anyway, and past every lease.
        ends = max(self.blocked_until, self.last_failure, now) + window_s
        ends = max([ends, *self.held.values()])
        return max(1, math.ceil(ends - now))


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """The limits of both scopes, as the settings give them."""

    policies: Mapping[Scope, Policy]
    window_s: float
    first_delay_s: float
    lease_s: float

    def refusal(self, records: Mapping[Scope, ThrottleRecord], now: float) -> Blocked | None:
        """The longest wait any of the records imposes, or None: the attempt may go ahead."""
        refusals = [
            blocked
            for scope, record in records.items()
            if (blocked := record.refusal(scope, self.policies[scope], now))
        ]
        return max(refusals, key=lambda b: b.retry_after_s) if refusals else None

    def reserve(
        self, records: Mapping[Scope, ThrottleRecord], attempt_id: str, now: float
    ) -> Blocked | None:
        """Hold a place for the attempt on every record, unless one of them refuses."""
        blocked = self.refusal(records, now)
        if blocked is None:
            for record in records.values():
                record.held[attempt_id] = now + self.lease_s
        return blocked


def _digest(*parts: str) -> str:
    # Hashed so the state store holds no emails or addresses.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def record_keys(shop: str, email: str, address: str) -> dict[Scope, str]:
    """The state-store keys of a login's account and address records."""
    return {
        "account": f"{KEY_PREFIX}:account:{_digest(shop, email)}",
        "address": f"{KEY_PREFIX}:address:{_digest(shop, address)}",
    }
