"""Login throttling on the StateStore port: an attempt is reserved before its password check.

One record per (shop, account) and per (shop, client address) holds its failures, until when
it is blocked, and the attempts being checked right now ("held", each with a lease): the
rules are `domain/throttle.py`'s; this module keeps the records. A login reserves its attempt
on both records in one ETag-guarded state transaction *before* argon2 runs, so parallel
guesses, on any number of replicas, verify at most the limit; the answer then settles the
reservation (a failure counts, a success or an error gives it back).

The port has no "insert if absent": creating a record also bumps the ETag of the record's own
guard key (in the same transaction), so of two requests creating one record, one conflicts
and retries; creations of different records never conflict.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import TypeVar

import structlog

from shopfleet.identity.domain.refusals import LoginThrottled
from shopfleet.identity.domain.throttle import (
    BUSY_RETRY_S,
    Blocked,
    Outcome,
    Policy,
    Scope,
    ThrottleRecord,
    ThrottleRules,
    record_keys,
)
from shopfleet.identity.settings import IdentitySettings
from shopfleet.kit.blocks import ETagMismatch, StateItem, StateOp, StateStore

log = structlog.get_logger("shopfleet.identity.throttle")

# What a refused login raises (a 429 with Retry-After), under the name callers know.
Throttled = LoginThrottled
T = TypeVar("T")
_MAX_TRIES = 50
_GUARD_TTL_S = 3600
_REMEMBER_S = 1.0


class Attempt:
    """A reserved login attempt. Settle it with `fail()` or `succeed()`; leaving its
    `async with` block unsettled (an error, a cancelled request) gives the reservation back."""

    def __init__(self, throttle: LoginThrottle, keys: Mapping[Scope, str], id: str) -> None:
        self._throttle, self._keys, self.id = throttle, keys, id
        self._settled = False

    async def fail(self) -> None:
        await self._settle("failed")

    async def succeed(self) -> None:
        await self._settle("succeeded")

    async def _settle(self, outcome: Outcome) -> None:
        if not self._settled:
            self._settled = True
            await self._throttle._settle(self._keys, self.id, outcome)

    async def __aenter__(self) -> Attempt:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._settled:
            # Shielded: a cancelled request still gives its place back (else the lease does).
            await asyncio.shield(self._settle("released"))


class LoginThrottle:
    def __init__(
        self,
        store: StateStore,
        *,
        max_per_account: int,
        max_per_address: int,
        window_s: float,
        first_delay_s: float = 30.0,
        max_account_delay_s: float = 300.0,
        max_address_delay_s: float = 3600.0,
        lease_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._rules = ThrottleRules(
            policies={
                "account": Policy(max_per_account, max_account_delay_s),
                "address": Policy(max_per_address, max_address_delay_s),
            },
            window_s=window_s,
            first_delay_s=first_delay_s,
            lease_s=lease_s,
        )
        self._clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._refused: dict[str, tuple[float, Blocked]] = {}  # key -> (until, refusal)

    @classmethod
    def from_settings(
        cls,
        store: StateStore,
        settings: IdentitySettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> LoginThrottle:
        return cls(
            store,
            max_per_account=settings.max_failures_per_account,
            max_per_address=settings.max_failures_per_address,
            window_s=settings.throttle_window_s,
            first_delay_s=settings.throttle_first_delay_s,
            max_account_delay_s=settings.throttle_max_account_delay_s,
            max_address_delay_s=settings.throttle_max_address_delay_s,
            lease_s=settings.throttle_lease_s,
            clock=clock,
        )

    # ------------------------------------------------------------------------- the API

    async def reserve(self, shop: str, email: str, address: str) -> Attempt:
        """Reserve an attempt for this login before checking its password; raise
        `Throttled` (429 with Retry-After) when the account or the address is over a limit."""
        keys = record_keys(shop, email, address)
        attempt_id = uuid.uuid4().hex[:16]

        def reserve(records: dict[Scope, ThrottleRecord], now: float) -> Blocked | None:
            return self._rules.reserve(records, attempt_id, now)

        blocked = self._remembered_refusal(keys) or await self._peek(keys)
        if blocked is None:
            try:
                async with self._locked(keys):
                    blocked = await self._update(keys, reserve, write_unless_refused=True)
            except _Contended:
                blocked = Blocked("account", BUSY_RETRY_S, busy=True)
        if blocked is not None:
            if blocked.busy:
                self._remember(keys[blocked.scope], blocked)
            raise blocked.refusal()
        return Attempt(self, keys, attempt_id)

    async def unlock_account(self, shop: str, email: str) -> None:
        """Forget the account's failures and lift its delay (attempts in flight stay held)."""
        await self._forgive("account", record_keys(shop, email, "")["account"])

    async def unlock_address(self, shop: str, address: str) -> None:
        """Forget a client address's failures in a shop and lift its delay."""
        await self._forgive("address", record_keys(shop, "", address)["address"])

    # ------------------------------------------------------------------------- internals

    async def _forgive(self, scope: Scope, key: str) -> None:
        async with self._locked({scope: key}):
            await self._update({scope: key}, lambda records, _now: records[scope].forgive())

    # A refusal needs one read and no write, and no lock. Within one process, the records of
    # a key are changed one request at a time (a lock per key), and "all free attempts are
    # being checked" is remembered for a moment (an unlock does not change it): a burst on
    # one account then costs a state read per request, not a storm of ETag conflicts.
    # Across replicas the ETags still decide.

    async def _peek(self, keys: Mapping[Scope, str]) -> Blocked | None:
        items = await self._store.get_bulk(list(keys.values()))
        now = self._clock()
        return self._rules.refusal(self._load(items, keys, now), now)

    def _load(
        self, items: Mapping[str, StateItem], keys: Mapping[Scope, str], now: float
    ) -> dict[Scope, ThrottleRecord]:
        window_s = self._rules.window_s
        return {
            scope: ThrottleRecord.load(
                item.value if (item := items.get(key)) else None, now, window_s
            )
            for scope, key in keys.items()
        }

    @asynccontextmanager
    async def _locked(self, keys: Mapping[Scope, str]) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for key in sorted(set(keys.values())):  # one order everywhere: no deadlock
                lock = self._locks.get(key)
                if lock is None:
                    lock = self._locks[key] = asyncio.Lock()
                await stack.enter_async_context(lock)
            yield
        for key in keys.values():  # what was read or written now is newer than a refusal
            self._refused.pop(key, None)

    def _remember(self, key: str, blocked: Blocked) -> None:
        now = self._clock()
        if len(self._refused) > 10_000:
            self._refused = {k: v for k, v in self._refused.items() if v[0] > now}
        self._refused[key] = (now + min(_REMEMBER_S, blocked.retry_after_s), blocked)

    def _remembered_refusal(self, keys: Mapping[Scope, str]) -> Blocked | None:
        now = self._clock()
        for key in keys.values():
            remembered = self._refused.get(key)
            if remembered is not None and remembered[0] > now:
                return remembered[1]
        return None

    async def _settle(self, keys: Mapping[Scope, str], attempt_id: str, outcome: Outcome) -> None:
        def settle(records: dict[Scope, ThrottleRecord], now: float) -> None:
            for scope, record in records.items():
                record.settle(scope, attempt_id, outcome, self._rules, now)

        try:
            async with self._locked(keys):
                await self._update(keys, settle)
        except _Contended:
            # The lease ends the reservation; a failure not counted is logged.
            log.warning("login attempt not settled: too much contention", outcome=outcome)

    async def _update(
        self,
        keys: Mapping[Scope, str],
        change: Callable[[dict[Scope, ThrottleRecord], float], T],
        *,
        write_unless_refused: bool = False,
    ) -> T:
        """Apply `change` to the records of `keys` in one ETag-guarded transaction, retried
        on conflict. With `write_unless_refused`, a non-None result (a refusal) writes nothing."""
        for attempt in range(_MAX_TRIES):
            try:
                return await self._update_once(keys, change, write_unless_refused)
            except ETagMismatch:
                # De-synchronize the losers: a retry costs a few state-store round trips.
                await asyncio.sleep(random.uniform(0, 0.004 * 2 ** min(attempt, 5)))
        raise _Contended()

    async def _update_once(
        self,
        keys: Mapping[Scope, str],
        change: Callable[[dict[Scope, ThrottleRecord], float], T],
        write_unless_refused: bool,
    ) -> T:
        items = await self._store.get_bulk(list(keys.values()))
        guards: dict[str, str] = {}
        missing = [key for key in keys.values() if key not in items]
        if missing:
            # Read the guards *before* re-reading the records: a creation that we have not
            # seen will then have changed a guard's ETag, and our transaction conflicts.
            wanted = [f"{key}:guard" for key in missing]
            found = await self._store.get_bulk(wanted)
            for guard in wanted:
                if guard in found:
                    guards[guard] = found[guard].etag
                else:
                    guards[guard] = await self._store.save(guard, 0, ttl_s=_GUARD_TTL_S)
            items = await self._store.get_bulk(list(keys.values()))
        now = self._clock()
        records = self._load(items, keys, now)
        result = change(records, now)
        if write_unless_refused and result is not None:
            return result
        # A guard may expire: a creator then writes it blindly, gets a fresh ETag and reads
        # the record after that, so the same order (guard, then record) still holds.
        ops = [StateOp.upsert(g, 0, etag=etag, ttl_s=_GUARD_TTL_S) for g, etag in guards.items()]
        for scope, key in keys.items():
            record, etag = records[scope], (item.etag if (item := items.get(key)) else None)
            ops.append(
                StateOp.upsert(
                    key, record.dump(), etag=etag, ttl_s=record.ttl_s(self._rules.window_s, now)
                )
            )
        await self._store.transact(ops)
        return result


class _Contended(Exception):
    """The records stayed contended through every retry."""
