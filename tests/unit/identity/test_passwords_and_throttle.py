"""argon2id hashing (with its bounded queue) and the login throttle's reservations and
progressive delays, with an in-memory state store and a clock the tests move."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from shopfleet.identity.passwords import HasherBusy, PasswordHasher
from shopfleet.identity.throttle import Attempt, LoginThrottle, Throttled
from shopfleet.kit.blocks import ETagMismatch, StateItem, StateOp, StateStore
from shopfleet.kit.blocks.ports import JSON
from shopfleet.kit.errors import problem_for

FAST = {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}


async def test_hash_and_verify() -> None:
    hasher = PasswordHasher(**FAST)
    hashed = await hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert await hasher.verify(hashed, "correct horse")
    assert not await hasher.verify(hashed, "wrong horse")
    assert not await hasher.verify("not a hash", "correct horse")
    await hasher.verify_dummy("anything")  # no error, no result
    assert not hasher.needs_rehash(hashed)
    assert PasswordHasher(time_cost=2, memory_cost_kib=64, parallelism=1).needs_rehash(hashed)


class MemoryStore(StateStore):
    """A StateStore fake with ETags (TTL ignored: the throttle prunes by time itself)."""

    def __init__(self) -> None:
        self.items: dict[str, StateItem] = {}

    async def get(self, key: str) -> StateItem | None:
        return self.items.get(key)

    async def get_bulk(self, keys: Sequence[str]) -> dict[str, StateItem]:
        return {k: self.items[k] for k in keys if k in self.items}

    async def save(
        self, key: str, value: JSON, *, etag: str | None = None, ttl_s: int | None = None
    ) -> str:
        await self.transact([StateOp.upsert(key, value, etag=etag, ttl_s=ttl_s)])
        return self.items[key].etag

    async def delete(self, key: str, *, etag: str | None = None) -> None:
        await self.transact([StateOp.remove(key, etag=etag)])

    async def transact(self, ops: Sequence[StateOp]) -> None:
        for op in ops:
            if op.etag is not None and (
                op.key not in self.items or self.items[op.key].etag != op.etag
            ):
                raise ETagMismatch(op.key)
        for op in ops:
            if op.delete:
                self.items.pop(op.key, None)
            else:
                self.items[op.key] = StateItem(op.key, op.value, uuid.uuid4().hex)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _throttle(clock: Clock, **changes: Any) -> LoginThrottle:
    options: dict[str, Any] = {
        "max_per_account": 3,
        "max_per_address": 10,
        "window_s": 1000,
        "first_delay_s": 10,
        "max_account_delay_s": 40,
        "max_address_delay_s": 400,
        "lease_s": 60,
        "clock": clock,
    }
    return LoginThrottle(MemoryStore(), **(options | changes))


async def _fail(throttle: LoginThrottle, email: str = "ann@example.com", ip: str = "ip") -> None:
    async with await throttle.reserve("acme", email, ip) as attempt:
        await attempt.fail()


async def _refusal(throttle: LoginThrottle, email: str = "ann@example.com", ip: str = "ip") -> Any:
    with pytest.raises(Throttled) as refused:
        await throttle.reserve("acme", email, ip)
    return problem_for(refused.value)  # as the caller gets it


async def test_parallel_attempts_never_exceed_the_limit() -> None:
    throttle = _throttle(Clock())
    outcomes = await asyncio.gather(
        *(throttle.reserve("acme", "ann@example.com", f"ip{n}") for n in range(10)),
        return_exceptions=True,
    )
    granted = [o for o in outcomes if isinstance(o, Attempt)]
    refused = [problem_for(o) for o in outcomes if isinstance(o, Throttled)]
    assert len(granted) == 3 and len(refused) == 7
    assert refused[0].status == 429 and refused[0].headers["Retry-After"] == "1"
    assert "being checked" in refused[0].detail


async def test_delays_double_past_the_limit_up_to_the_cap() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(3):
        await _fail(throttle)
    waits = []
    for _ in range(4):
        refused = await _refusal(throttle)
        waits.append(int(refused.headers["Retry-After"]))
        clock.now += waits[-1]
        attempt = await throttle.reserve("acme", "ann@example.com", "ip")
        await _refusal(throttle)  # past the limit, one attempt at a time
        await attempt.fail()
    assert waits == [10, 20, 40, 40]  # the account's cap


async def test_a_success_forgives_the_account_but_not_the_address() -> None:
    throttle = _throttle(Clock(), max_per_address=3)
    for _ in range(2):
        await _fail(throttle)
    async with await throttle.reserve("acme", "ann@example.com", "ip") as attempt:
        await attempt.succeed()
    await _fail(throttle)  # the account's first failure since, the address's third
    refused = await _refusal(throttle)
    assert "address" in refused.detail
    assert await throttle.reserve("acme", "ann@example.com", "other ip")


async def test_failures_are_forgotten_after_a_quiet_window() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(3):
        await _fail(throttle)
    clock.now += 10 + 999  # the delay, then not quite a whole quiet window
    await _fail(throttle)
    assert int((await _refusal(throttle)).headers["Retry-After"]) == 20
    clock.now += 20 + 1000
    for _ in range(2):  # forgotten: free failures again
        await _fail(throttle)
    assert await throttle.reserve("acme", "ann@example.com", "ip")


async def test_an_unsettled_attempt_gives_its_place_back() -> None:
    throttle = _throttle(Clock(), max_per_account=1)
    with pytest.raises(RuntimeError):
        async with await throttle.reserve("acme", "ann@example.com", "ip"):
            raise RuntimeError("the hasher was busy")
    async with await throttle.reserve("acme", "ann@example.com", "ip") as attempt:
        await attempt.fail()  # the first failure: the error above did not count
    assert "failed logins" in (await _refusal(throttle)).detail


async def test_a_lost_reservation_ends_with_its_lease() -> None:
    clock = Clock()
    throttle = _throttle(clock, max_per_account=1)
    await throttle.reserve("acme", "ann@example.com", "ip")  # its process died mid-check
    await _refusal(throttle)
    clock.now += 60
    assert await throttle.reserve("acme", "ann@example.com", "ip")


async def test_unlock_lifts_the_account_and_the_address() -> None:
    throttle = _throttle(Clock(), max_per_address=3)
    for _ in range(3):
        await _fail(throttle)
    await throttle.unlock_account("acme", "ann@example.com")
    assert "address" in (await _refusal(throttle)).detail
    await throttle.unlock_address("acme", "ip")
    assert await throttle.reserve("acme", "ann@example.com", "ip")


async def test_one_address_cannot_keep_an_account_locked() -> None:
    """The address's delays outgrow the account's: one attacker holds it for minutes an hour."""
    clock = Clock()
    throttle = _throttle(clock, max_per_address=3)
    for _ in range(11):  # an attacker failing whenever both delays allow
        try:
            await _fail(throttle, ip="attacker")
        except Throttled as refused:
            clock.now += int(problem_for(refused).headers["Retry-After"])
    attacker = await _refusal(throttle, ip="attacker")
    account = await _refusal(throttle, ip="victim")
    assert int(account.headers["Retry-After"]) <= 40 < int(attacker.headers["Retry-After"])
    # Other shops and accounts were never affected.
    assert await throttle.reserve("other", "ann@example.com", "attacker")
    assert await throttle.reserve("acme", "bob@example.com", "victim")


async def test_a_full_queue_of_password_checks_is_refused_with_503() -> None:
    hasher = PasswordHasher(**FAST, max_concurrent=1, max_waiting=2)
    hashed = await hasher.hash("correct horse")
    outcomes = await asyncio.gather(
        *(hasher.verify(hashed, "correct horse") for _ in range(6)), return_exceptions=True
    )
    assert outcomes[:3] == [True, True, True]  # one checking, two waiting
    for busy in outcomes[3:]:
        assert isinstance(busy, HasherBusy)
        busy = problem_for(busy)
        assert busy.status == 503 and int(busy.headers["Retry-After"]) >= 1


async def test_logins_beyond_the_admissions_wait_at_most_max_wait_s_then_503() -> None:
    hasher = PasswordHasher(**FAST, max_concurrent=1, max_waiting=1, max_wait_s=0.05)
    async with hasher.admitted(), hasher.admitted():  # both places taken
        with pytest.raises(HasherBusy):
            async with hasher.admitted():
                pass
    async with hasher.admitted():  # given back
        hashed = await hasher.hash("correct horse")
    assert await hasher.verify(hashed, "correct horse")
