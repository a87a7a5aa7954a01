"""argon2id password hashing, run in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from shopfleet.identity.settings import IdentitySettings


class PasswordHasher:
    """Hashes and verifies passwords; at most `max_concurrent` hashes run at once.

    Each hash holds `memory_cost_kib` of memory, so an unbounded burst of logins could
    exhaust memory: the semaphore turns the burst into a queue.
    """

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost_kib: int = 65_536,
        parallelism: int = 4,
        max_concurrent: int | None = None,
    ) -> None:
        self._argon2 = _Argon2(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism, type=Type.ID
        )
        self._slots = asyncio.Semaphore(max_concurrent or max(2, os.cpu_count() or 2))
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> PasswordHasher:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

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
