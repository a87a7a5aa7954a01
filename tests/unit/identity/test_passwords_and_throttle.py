"""argon2id hashing and the login throttle's sliding window, with an in-memory state store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shopfleet.identity.passwords import PasswordHasher
from shopfleet.identity.throttle import LoginThrottle
from shopfleet.kit.blocks import ETagMismatch, StateItem, StateOp, StateStore
from shopfleet.kit.blocks.ports import JSON

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


async def test_the_window_slides() -> None:
    clock = Clock()
    throttle = LoginThrottle(
        MemoryStore(), max_per_account=3, max_per_address=10, window_s=100, clock=clock
    )
    for _ in range(3):
        assert await throttle.check("acme", "ann@example.com", "ip") is None
        await throttle.record_failure("acme", "ann@example.com", "ip")
        clock.now += 10
    blocked = await throttle.check("acme", "ann@example.com", "ip")
    assert blocked is not None and blocked.scope == "account"
    assert blocked.retry_after_s == 70  # the first failure (30 s ago) leaves the window in 70 s
    clock.now += 70
    assert await throttle.check("acme", "ann@example.com", "ip") is None
    # Other shops and accounts were never affected.
    assert await throttle.check("other", "ann@example.com", "ip") is None


async def test_reset_clears_the_account_but_not_the_address() -> None:
    throttle = LoginThrottle(MemoryStore(), max_per_account=2, max_per_address=2, window_s=100)
    for _ in range(2):
        await throttle.record_failure("acme", "ann@example.com", "ip")
    await throttle.reset_account("acme", "ann@example.com")
    blocked = await throttle.check("acme", "ann@example.com", "ip")
    assert blocked is not None and blocked.scope == "address"


async def test_the_longest_wait_is_reported() -> None:
    clock = Clock()
    throttle = LoginThrottle(
        MemoryStore(), max_per_account=1, max_per_address=2, window_s=100, clock=clock
    )
    await throttle.record_failure("acme", "a@example.com", "ip")
    clock.now += 50
    await throttle.record_failure("acme", "b@example.com", "ip")
    blocked = await throttle.check("acme", "b@example.com", "ip")
    assert blocked is not None and blocked.retry_after_s == 100 and blocked.scope == "account"
