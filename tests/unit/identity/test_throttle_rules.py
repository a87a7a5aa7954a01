"""Login throttling's rules (identity/domain/throttle.py), with no state store: what a record
allows, how failures grow into progressive delays, and what a settled attempt changes."""

from __future__ import annotations

import pytest

from shopfleet.identity.domain.throttle import (
    BUSY_RETRY_S,
    Blocked,
    Policy,
    ThrottleRecord,
    ThrottleRules,
    record_keys,
)
from shopfleet.kit.errors import problem_for

ACCOUNT = Policy(limit=3, max_delay_s=300)
RULES = ThrottleRules(
    policies={"account": ACCOUNT, "address": Policy(limit=5, max_delay_s=3600)},
    window_s=600,
    first_delay_s=30,
    lease_s=60,
)


def _failed(times: int, now: float = 0.0) -> ThrottleRecord:
    record = ThrottleRecord()
    for _ in range(times):
        record.fail(ACCOUNT, 30, now)
    return record


def test_a_fresh_record_allows_an_attempt() -> None:
    assert ThrottleRecord().refusal("account", ACCOUNT, now=0) is None


def test_failures_below_the_limit_cost_no_delay() -> None:
    record = _failed(2)
    assert record.blocked_until == 0
    assert record.refusal("account", ACCOUNT, now=0) is None


@pytest.mark.parametrize(
    ("failures", "delay"), [(3, 30), (4, 60), (5, 120), (6, 240), (7, 300), (12, 300)]
)
def test_each_failure_past_the_limit_doubles_the_delay_up_to_the_cap(
    failures: int, delay: float
) -> None:
    assert _failed(failures, now=1000).blocked_until == 1000 + delay


def test_a_blocked_record_says_how_long_to_wait_rounded_up() -> None:
    record = _failed(3, now=100)
    assert record.refusal("account", ACCOUNT, now=110.5) == Blocked("account", 20)
    assert record.refusal("account", ACCOUNT, now=129.9) == Blocked("account", 1)
    assert record.refusal("account", ACCOUNT, now=130) is None


def test_a_later_failure_never_shortens_a_block() -> None:
    record = _failed(5, now=0)  # blocked until 120
    record.failures = 2  # as if forgotten in between, then failing once more
    record.fail(ACCOUNT, 30, now=1)
    assert record.blocked_until == 120


def test_attempts_being_checked_take_the_free_places() -> None:
    record = _failed(1)
    record.held = {"a": 60.0}
    assert record.refusal("account", ACCOUNT, now=0) is None  # 2 free, 1 held
    record.held["b"] = 60.0
    assert record.refusal("account", ACCOUNT, now=0) == Blocked("account", BUSY_RETRY_S, busy=True)


def test_past_the_limit_one_attempt_is_checked_at_a_time() -> None:
    record = _failed(3, now=0)
    assert record.refusal("account", ACCOUNT, now=31) is None
    record.held = {"a": 91.0}
    assert record.refusal("account", ACCOUNT, now=31) == Blocked("account", 1, busy=True)


def test_load_forgets_failures_after_a_quiet_window_past_the_block() -> None:
    stored = _failed(3, now=0).dump()  # blocked until 30
    assert ThrottleRecord.load(stored, now=629, window_s=600).failures == 3
    assert ThrottleRecord.load(stored, now=630, window_s=600).failures == 0


def test_load_drops_expired_leases() -> None:
    stored = ThrottleRecord(held={"old": 10.0, "live": 100.0}).dump()
    assert ThrottleRecord.load(stored, now=50, window_s=600).held == {"live": 100.0}


@pytest.mark.parametrize(
    "value", [None, "text", 7, {"f": "many"}, {"h": {"a": "soon"}}, {"h": ["a"]}]
)
def test_anything_unreadable_loads_as_a_fresh_record(value: object) -> None:
    assert ThrottleRecord.load(value, now=0, window_s=600) == ThrottleRecord()


def test_a_record_round_trips_through_its_stored_form() -> None:
    record = ThrottleRecord(failures=4, last_failure=5.0, blocked_until=65.0, held={"a": 70.0})
    assert ThrottleRecord.load(record.dump(), now=6, window_s=600) == record


def test_settling_a_failure_counts_it_on_both_scopes_and_frees_the_place() -> None:
    records = {
        "account": ThrottleRecord(held={"a": 60.0}),
        "address": ThrottleRecord(held={"a": 60.0}),
    }
    for scope, record in records.items():
        record.settle(scope, "a", "failed", RULES, now=1)
    assert all(r.failures == 1 and r.held == {} for r in records.values())


def test_a_success_forgives_the_account_but_not_the_address() -> None:
    account, address = _failed(3), _failed(3)
    account.settle("account", "a", "succeeded", RULES, now=40)
    address.settle("address", "a", "succeeded", RULES, now=40)
    assert (account.failures, account.blocked_until) == (0, 0)
    assert address.failures == 3


def test_a_released_attempt_only_gives_its_place_back() -> None:
    record = _failed(2)
    record.held = {"a": 60.0, "b": 60.0}
    record.settle("account", "a", "released", RULES, now=1)
    assert record.failures == 2 and record.held == {"b": 60.0}


def test_reserve_holds_a_place_on_every_record_for_the_lease() -> None:
    records = {"account": ThrottleRecord(), "address": ThrottleRecord()}
    assert RULES.reserve(records, "a", now=10) is None
    assert all(r.held == {"a": 70.0} for r in records.values())


def test_a_refused_reservation_holds_nothing() -> None:
    records = {"account": _failed(3, now=0), "address": ThrottleRecord()}
    assert RULES.reserve(records, "a", now=1) == Blocked("account", 29)
    assert all(r.held == {} for r in records.values())


def test_the_longest_wait_of_the_two_scopes_is_the_answer() -> None:
    address = ThrottleRecord(failures=9, blocked_until=500)
    records = {"account": _failed(3, now=0), "address": address}
    assert RULES.refusal(records, now=0) == Blocked("address", 500)


def test_a_record_is_kept_until_forgotten_and_past_every_lease() -> None:
    assert ThrottleRecord().ttl_s(600, now=0) == 600
    assert ThrottleRecord(blocked_until=100).ttl_s(600, now=0) == 700
    assert ThrottleRecord(held={"a": 900.0}).ttl_s(600, now=0) == 900


def test_record_keys_hold_no_email_or_address_and_differ_per_shop() -> None:
    keys = record_keys("acme", "ann@example.com", "192.0.2.1")
    assert "ann" not in keys["account"] and "192.0.2.1" not in keys["address"]
    assert keys["account"].startswith("identity:login:account:")
    assert record_keys("other", "ann@example.com", "192.0.2.1")["account"] != keys["account"]


@pytest.mark.parametrize(
    ("blocked", "why"),
    [
        (Blocked("account", 30), "failed logins"),
        (Blocked("address", 1, busy=True), "being checked"),
    ],
)
def test_a_refusal_is_a_429_with_retry_after_naming_its_scope(blocked: Blocked, why: str) -> None:
    problem = problem_for(blocked.refusal())
    assert problem.status == 429 and problem.slug == "login-throttled"
    assert problem.headers == {"Retry-After": str(blocked.retry_after_s)}
    assert problem.extra == {"retry_after_s": blocked.retry_after_s}
    assert why in problem.detail and blocked.scope in problem.detail
