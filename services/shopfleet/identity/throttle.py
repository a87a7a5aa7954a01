"""Login throttling on the StateStore port: an attempt is reserved before its password check.

One record per (shop, account) and per (shop, client address) holds its failures, until when
it is blocked, and the attempts being checked right now ("held", each with a lease). A login
reserves its attempt on both records in one ETag-guarded state transaction *before* argon2
runs, so parallel guesses, on any number of replicas, verify at most the limit; the answer
then settles the reservation (a failure counts, a success or an error gives it back).

Lockouts are progressive, not fixed: `limit` failures are free, then each failure blocks the
record for `first_delay_s` · 2^k, capped (minutes for an account, an hour for an address),
and failures are forgotten after a quiet `window_s` past the last block. So one address
cannot keep an account locked (its own delays outgrow the account's), and a shop Admin can
lift an account's delays at once (`unlock_account`).

The port has no "insert if absent": creating a record also bumps the ETag of the record's own
guard key (in the same transaction), so of two requests creating one record, one conflicts
and retries; creations of different records never conflict.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, TypeVar

import structlog

from shopfleet.identity.settings import IdentitySettings
from shopfleet.kit.blocks import ETagMismatch, StateItem, StateOp, StateStore
from shopfleet.kit.errors import Problem

log = structlog.get_logger("shopfleet.identity.throttle")

Scope = Literal["account", "address"]
T = TypeVar("T")
_PREFIX = "identity:login"
_MAX_TRIES = 50
_GUARD_TTL_S = 3600
_BUSY_RETRY_S = 1  # a held attempt is settled within about one password check
_REMEMBER_S = 1.0


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


class Throttled(Problem):
    def __init__(self, blocked: Blocked) -> None:
        wait = blocked.retry_after_s
        why = "logins are being checked" if blocked.busy else "failed logins"
        super().__init__(
            429,
            f"Too many {why} for this {blocked.scope}; retry in {wait} seconds.",
            slug="login-throttled",
            headers={"Retry-After": str(wait)},
            retry_after_s=wait,
        )


@dataclass(slots=True)
class _Record:
    """What the state store holds per account or address (short keys: it is stored often)."""

    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0
    held: dict[str, float] = field(default_factory=dict)  # attempt id -> lease expiry

    @classmethod
    def load(cls, item: StateItem | None, now: float, window_s: float) -> _Record:
        value = item.value if item is not None else None
        if not isinstance(value, dict):
            return cls()
        try:
            record = cls(
                int(value.get("f", 0)),
                float(value.get("t", 0)),
                float(value.get("u", 0)),
                {str(k): float(v) for k, v in dict(value.get("h", {})).items()},
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
            return Blocked(scope, _BUSY_RETRY_S, busy=True)
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


def _digest(*parts: str) -> str:
    # Hashed so the state store holds no emails or addresses.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


Outcome = Literal["failed", "succeeded", "released"]


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
        self._policies: dict[Scope, Policy] = {
            "account": Policy(max_per_account, max_account_delay_s),
            "address": Policy(max_per_address, max_address_delay_s),
        }
        self._window_s = window_s
        self._first_delay_s = first_delay_s
        self._lease_s = lease_s
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
        keys = self._keys(shop, email, address)
        attempt_id = uuid.uuid4().hex[:16]

        def reserve(records: dict[Scope, _Record], now: float) -> Blocked | None:
            blocked = self._refusal(records, now)
            if blocked is None:
                for record in records.values():
                    record.held[attempt_id] = now + self._lease_s
            return blocked

        blocked = self._remembered_refusal(keys) or await self._peek(keys)
        if blocked is None:
            try:
                async with self._locked(keys):
                    blocked = await self._update(keys, reserve, write_unless_refused=True)
            except _Contended:
                blocked = Blocked("account", _BUSY_RETRY_S, busy=True)
        if blocked is not None:
            if blocked.busy:
                self._remember(keys[blocked.scope], blocked)
            raise Throttled(blocked)
        return Attempt(self, keys, attempt_id)

    async def unlock_account(self, shop: str, email: str) -> None:
        """Forget the account's failures and lift its delay (attempts in flight stay held)."""
        await self._forgive("account", self._keys(shop, email, "")["account"])

    async def unlock_address(self, shop: str, address: str) -> None:
        """Forget a client address's failures in a shop and lift its delay."""
        await self._forgive("address", self._keys(shop, "", address)["address"])

    # ------------------------------------------------------------------------- internals

    def _keys(self, shop: str, email: str, address: str) -> dict[Scope, str]:
        return {
            "account": f"{_PREFIX}:account:{_digest(shop, email)}",
            "address": f"{_PREFIX}:address:{_digest(shop, address)}",
        }

    async def _forgive(self, scope: Scope, key: str) -> None:
        async with self._locked({scope: key}):
            await self._update({scope: key}, lambda records, _now: records[scope].forgive())

    # A refusal needs one read and no write, and no lock. Within one process, the records of
    # a key are changed one request at a time (a lock per key), and "all free attempts are
    # being checked" is remembered for a moment (an unlock does not change it): a burst on
    # one account then costs a state read per request, not a storm of ETag conflicts.
    # Across replicas the ETags still decide.

    def _refusal(self, records: Mapping[Scope, _Record], now: float) -> Blocked | None:
        refusals = [
            blocked
            for scope, record in records.items()
            if (blocked := record.refusal(scope, self._policies[scope], now))
        ]
        return max(refusals, key=lambda b: b.retry_after_s) if refusals else None  # longest

    async def _peek(self, keys: Mapping[Scope, str]) -> Blocked | None:
        items = await self._store.get_bulk(list(keys.values()))
        now = self._clock()
        return self._refusal(
            {s: _Record.load(items.get(k), now, self._window_s) for s, k in keys.items()}, now
        )

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
        def settle(records: dict[Scope, _Record], now: float) -> None:
            for scope, record in records.items():
                record.held.pop(attempt_id, None)
                if outcome == "failed":
                    record.fail(self._policies[scope], self._first_delay_s, now)
                elif outcome == "succeeded" and scope == "account":
                    record.forgive()

        try:
            async with self._locked(keys):
                await self._update(keys, settle)
        except _Contended:
            # The lease ends the reservation; a failure not counted is logged.
            log.warning("login attempt not settled: too much contention", outcome=outcome)

    async def _update(
        self,
        keys: Mapping[Scope, str],
        change: Callable[[dict[Scope, _Record], float], T],
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
        change: Callable[[dict[Scope, _Record], float], T],
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
        records = {s: _Record.load(items.get(k), now, self._window_s) for s, k in keys.items()}
        result = change(records, now)
        if write_unless_refused and result is not None:
            return result
        # A guard may expire: a creator then writes it blindly, gets a fresh ETag and reads
        # the record after that, so the same order (guard, then record) still holds.
        ops = [StateOp.upsert(g, 0, etag=etag, ttl_s=_GUARD_TTL_S) for g, etag in guards.items()]
        for scope, key in keys.items():
            record, etag = records[scope], (item.etag if (item := items.get(key)) else None)
            ops.append(
                StateOp.upsert(key, record.dump(), etag=etag, ttl_s=self._ttl_s(record, now))
            )
        await self._store.transact(ops)
        return result

    def _ttl_s(self, record: _Record, now: float) -> int:
        # Kept until the failures would be forgotten anyway, and past every lease.
        ends = max(record.blocked_until, record.last_failure, now) + self._window_s
        ends = max([ends, *record.held.values()])
        return max(1, math.ceil(ends - now))


class _Contended(Exception):
    """The records stayed contended through every retry."""
