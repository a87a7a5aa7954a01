"""argon2id password hashing, run in worker threads so the event loop keeps serving.

The threads are few (a hash holds 64 MiB and a core); the queue in front of them is bounded
too, in length and in time: a burst that would wait longer than a caller waits (the gateway
gives up after 10 s) is refused with 503 + Retry-After, instead of working for answers
nobody reads any more.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from shopfleet.identity.settings import IdentitySettings
from shopfleet.kit.refusals import UnavailableRefusal

_BUSY_RETRY_AFTER_S = 2
T = TypeVar("T")


class HasherBusy(UnavailableRefusal):
    default_slug = "password-checks-busy"

    def __init__(self) -> None:
        super().__init__(
            f"Too many password checks are waiting; retry in {_BUSY_RETRY_AFTER_S} seconds.",
            retry_after_s=_BUSY_RETRY_AFTER_S,
        )


# The deadline of the admitted request this task serves (see `PasswordHasher.admitted`).
_deadline: ContextVar[float | None] = ContextVar("password_check_deadline", default=None)


async def _acquire(semaphore: asyncio.Semaphore, deadline: float) -> None:
    try:
        async with asyncio.timeout_at(deadline):
            await semaphore.acquire()
    except TimeoutError:
        raise HasherBusy() from None


class PasswordHasher:
    """Hashes and verifies passwords; at most `max_concurrent` hashes run at once, at most
    `max_waiting` wait for a turn, none waits longer than `max_wait_s` (else `HasherBusy`,
    a 503 with Retry-After).

    Each hash holds `memory_cost_kib` of memory, so an unbounded burst of logins could
    exhaust memory: the semaphore turns the burst into a queue, and the bounds keep the
    queue shorter than any caller's patience, however slow the CPUs are right now.
    """

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost_kib: int = 65_536,
        parallelism: int = 4,
        max_concurrent: int | None = None,
        max_waiting: int = 16,
        max_wait_s: float = 5.0,
    ) -> None:
        self._argon2 = _Argon2(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism, type=Type.ID
        )
        concurrent = max_concurrent or max(2, os.cpu_count() or 2)
        self._slots = asyncio.Semaphore(concurrent)
        self._admissions = asyncio.Semaphore(concurrent + max_waiting)
        self._max_waiting = max_waiting
        self._max_wait_s = max_wait_s
        self._waiting = 0
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> PasswordHasher:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
            max_concurrent=settings.argon2_max_concurrent,
            max_waiting=settings.argon2_max_waiting,
            max_wait_s=settings.argon2_max_wait_s,
        )

    async def hash(self, password: str) -> str:
        return await self._in_turn(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._in_turn(self._verify, password_hash, password)

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Admit a request that will check a password (a login), before it does anything
        else: at most `max_concurrent + max_waiting` at once. Its wait for admission and for
        its hash together last at most `max_wait_s` (else `HasherBusy`), so what is admitted
        answers in time, and a burst costs the rest of the service nothing."""
        deadline = asyncio.get_running_loop().time() + self._max_wait_s
        await _acquire(self._admissions, deadline)
        token = _deadline.set(deadline)
        try:
            yield
        finally:
            _deadline.reset(token)
            self._admissions.release()

    async def _in_turn(self, work: Callable[..., T], *args: str) -> T:
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise HasherBusy()
        deadline = _deadline.get() or asyncio.get_running_loop().time() + self._max_wait_s
        self._waiting += 1
        try:
            await _acquire(self._slots, deadline)
        finally:
            self._waiting -= 1
        try:
            return await asyncio.to_thread(work, *args)
        finally:
            self._slots.release()

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verification, for an account that does not exist.

        Answering an unknown email faster than a wrong password would tell an attacker
        which emails have accounts.
        """
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("not a password anyone has")
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):  # mismatch or a corrupt hash
            return False
