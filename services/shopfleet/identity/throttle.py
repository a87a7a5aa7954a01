"""Login throttling on the StateStore port: failed logins per account and per address.

Each counter is a list of failure times inside a sliding window. Updates are ETag-guarded
read-modify-writes retried on conflict, so concurrent failures are all counted. The port
has no "insert if absent", so creating a counter also bumps the ETag of a guard key (in
one transaction): of two requests creating the same counter at once, one conflicts and
retries as an update instead of overwriting the other's failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from shopfleet.kit.blocks import ETagMismatch, StateOp, StateStore
from shopfleet.kit.errors import Problem

log = structlog.get_logger("shopfleet.identity.throttle")

_PREFIX = "identity:login"
_GUARD_SHARDS = 64
_MAX_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class Blocked:
    """A refusal: which limit was hit and how many seconds until a retry can succeed."""

    scope: str  # "account" or "address"
    retry_after_s: int


class Throttled(Problem):
    def __init__(self, blocked: Blocked) -> None:
        wait = blocked.retry_after_s
        super().__init__(
            429, f"Too many failed logins for this {blocked.scope}; retry in {wait} seconds.",
            slug="login-throttled", headers={"Retry-After": str(wait)}, retry_after_s=wait,
        )  # fmt: skip


def _digest(*parts: str) -> str:
    # Hashed so the state store holds no emails or addresses.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


class LoginThrottle:
    def __init__(
        self,
        store: StateStore,
        *,
        max_per_account: int,
        max_per_address: int,
        window_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._limits = {"account": max_per_account, "address": max_per_address}
        self._window_s = window_s
        self._clock = clock

    def _keys(self, shop: str, email: str, address: str) -> dict[str, str]:
        return {
            "account": f"{_PREFIX}:account:{_digest(shop, email)}",
            "address": f"{_PREFIX}:address:{_digest(shop, address)}",
        }

    async def check(self, shop: str, email: str, address: str) -> Blocked | None:
        """The limit this login attempt is over, if any (the longest wait wins)."""
        keys = self._keys(shop, email, address)
        items = await self._store.get_bulk(list(keys.values()))
        now = self._clock()
        worst: Blocked | None = None
        for scope, key in keys.items():
            item = items.get(key)
            failures = self._recent(item.value if item else None, now)
            if len(failures) >= self._limits[scope]:
                # Blocked until the oldest failure that counts towards the limit leaves the window.
                until = failures[-self._limits[scope]] + self._window_s
                wait = max(1, math.ceil(until - now))
                if worst is None or wait > worst.retry_after_s:
                    worst = Blocked(scope, wait)
        return worst

    async def ensure_allowed(self, shop: str, email: str, address: str) -> None:
        """Raise `Throttled` (429 with Retry-After) when this attempt is over a limit."""
        blocked = await self.check(shop, email, address)
        if blocked is not None:
            raise Throttled(blocked)

    async def record_failure(self, shop: str, email: str, address: str) -> None:
        keys = self._keys(shop, email, address)
        await asyncio.gather(
            *(self._append(key, self._limits[scope]) for scope, key in keys.items())
        )

    async def reset_account(self, shop: str, email: str) -> None:
        await self._store.delete(self._keys(shop, email, "")["account"])

    def _recent(self, value: object, now: float) -> list[float]:
        if not isinstance(value, list):
            return []
        start = now - self._window_s
        return sorted(t for t in value if isinstance(t, int | float) and t > start)

    async def _append(self, key: str, limit: int) -> None:
        guard = f"{_PREFIX}:guard:{int(key[-8:], 16) % _GUARD_SHARDS}"
        for attempt in range(_MAX_ATTEMPTS):
            try:
                await self._append_once(key, guard, limit)
                return
            except ETagMismatch:
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # de-synchronize
        log.warning("login failure not counted: too much contention", key=key)

    async def _append_once(self, key: str, guard: str, limit: int) -> None:
        item = await self._store.get(key)
        guard_etag: str | None = None
        if item is None:
            # Read the guard *before* re-reading the counter: a creation that we have not
            # seen will then have changed the guard's ETag, and our transaction conflicts.
            guard_item = await self._store.get(guard)
            guard_etag = guard_item.etag if guard_item else await self._store.save(guard, 0)
            item = await self._store.get(key)
        now = self._clock()
        failures = [*self._recent(item.value if item else None, now), now][-limit:]
        if item is not None:
            await self._store.save(key, failures, etag=item.etag, ttl_s=self._window_s)
            return
        await self._store.transact(
            [
                StateOp.upsert(guard, 0, etag=guard_etag),
                StateOp.upsert(key, failures, ttl_s=self._window_s),
            ]
        )
