"""`RedisStateStore`: the StateStore port on Redis, with the local adapter's exact semantics.

Layout. An item is one Redis hash at `<key_prefix>||<key>` with the fields

    v  the value, orjson bytes
    e  the ETag, a fresh random token per write (never reused, so a delete-then-recreate
       cannot make an old ETag valid again)
    x  the expiry deadline in unix milliseconds (absent = no TTL)

Atomicity. Every write goes through one Lua script (`_APPLY`, run with EVALSHA), for
`save`, `delete` and `transact` alike: it first checks the ETag of every op, in order, as if
the earlier ops had been applied (so a key written twice in one transaction behaves as in
the local adapter's sequential SQLite transaction), and only when all match does it write.
Redis runs a script without interleaving other commands, so check-and-set is atomic and a
transaction is all-or-nothing. The write phase uses only DEL, HSET and PEXPIRE, which
cannot fail on a key of another type (DEL replaces it), so an error can only happen in the
check phase, before anything was written (Redis does not roll back a script's writes).

TTL. A TTL write stores the deadline `x` and sets PEXPIRE; a write without TTL recreates
the hash (DEL + HSET), which leaves it persistent, so it clears an earlier TTL exactly as
PERSIST would. Every read and ETag check treats an item whose deadline has passed as
absent, by the store's clock: by default Redis's own `TIME` (one clock for every replica of
the app, and the same one PEXPIRE uses); an injected `clock` (seconds, like the local
adapter's) replaces it, which is how the contract tests let time pass without sleeping.
Redis still deletes the key for real after the TTL, so nothing piles up.

Failures. A connection problem (refused, reset, timed out, authentication) raises
`StateStoreUnavailable`, a builtin `ConnectionError` carrying the URL (password masked)
and the redis-py error as `__cause__`. A pooled connection the server already closed (a
Redis restart, an idle timeout) is replaced before a command is sent, so that alone fails
nothing. Reads are retried once on a connection error. Writes are sent at most once (the
client's automatic retries are off): redis-py cannot tell whether a failed command reached
Redis, and a retried check-and-set that had in fact been applied would then report a false
`ETagMismatch`. So after `StateStoreUnavailable` from a write, the write may or may not
have happened: re-read before deciding what to do. Other Redis errors (e.g. WRONGTYPE for
a foreign key under our prefix) pass through as `redis.exceptions.ResponseError`.

Scope. One Redis (or a primary with replicas). In Redis Cluster, a `transact` or
`get_bulk` touching keys in different hash slots would fail with CROSSSLOT: keys would need
a common hash tag (e.g. `{shop}`) and `get_bulk` would have to be split per slot.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shopfleet.kit.blocks.ports import (
    JSON,
    ETagMismatch,
    StateItem,
    StateOp,
    StateStore,
    StateStoreUnavailable,
)

try:  # newer redis-py (8.x here): its default "auto" skips the dead-pooled-connection check
    from redis.maint_notifications import MaintNotificationsConfig

    _CLIENT_OPTIONS: dict[str, Any] = {
        "maint_notifications_config": MaintNotificationsConfig(enabled=False)
    }
except ImportError:  # pragma: no cover - older redis-py checks pooled connections anyway
    _CLIENT_OPTIONS = {}

DEFAULT_URL = "redis://127.0.0.1:6379/0"
SEPARATOR = "||"  # between prefix and key, as Dapr does (`<app-id>||<key>`)
MAX_TTL_S = 10**11  # ~3000 years: keeps deadlines exact in Lua's doubles
_CHUNK = 500  # keys per get_bulk script call: bounds how long one call blocks Redis
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]+")

# The store's clock in unix ms: the caller's (ARGV[1]) or, when that is empty, Redis's.
_NOW = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: the keys to read; ARGV[1]: now (see _NOW). Returns, per key, {value, etag}, or nil
# when the item is missing or expired.
_GET = (
    _NOW
    + """
local out = {}
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'v', 'e', 'x')
  if f[1] and f[2] and (not f[3] or tonumber(f[3]) > now) then
    out[i] = {f[1], f[2]}
  else
    out[i] = false
  end
end
return out
"""
)

# KEYS: one per op, in order (a key may repeat). ARGV[1]: now (see _NOW); then per op
# six args: kind ('set' | 'del'), check ('1' = compare the ETag), expected ETag, value,
# new ETag, TTL in ms ('0' = none). Returns 0 when applied, else the 1-based index of the
# first op whose ETag did not match (nothing was written).
_APPLY = (
    _NOW
    + """
local function live_etag(key)
  local f = redis.call('HMGET', key, 'e', 'x')
  if not f[1] or (f[2] and tonumber(f[2]) <= now) then
    return false
  end
  return f[1]
end

local etags = {}  -- key -> ETag (false = absent) as the ops seen so far leave it
for i = 1, #KEYS do
  local key, a = KEYS[i], 1 + (i - 1) * 6
  if etags[key] == nil then
    etags[key] = live_etag(key)
  end
  if ARGV[a + 2] == '1' and etags[key] ~= ARGV[a + 3] then
    return i
  end
  if ARGV[a + 1] == 'set' then
    etags[key] = ARGV[a + 5]
  else
    etags[key] = false
  end
end

for i = 1, #KEYS do
  local key, a = KEYS[i], 1 + (i - 1) * 6
  redis.call('DEL', key)
  if ARGV[a + 1] == 'set' then
    local ttl = tonumber(ARGV[a + 6])
    if ttl > 0 then
      redis.call('HSET', key, 'v', ARGV[a + 4], 'e', ARGV[a + 5],
                 'x', string.format('%.0f', now + ttl))
      redis.call('PEXPIRE', key, ttl)
    else
      redis.call('HSET', key, 'v', ARGV[a + 4], 'e', ARGV[a + 5])
    end
  end
end
return 0
"""
)


class RedisStateStore(StateStore):
    """Key/value state with ETags and TTL in Redis, every key under `key_prefix`.

    No I/O happens in the constructor; `await store.open()` checks the connection and
    loads the scripts (optional: without it the first call connects and loads them).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        key_prefix: str,
        clock: Callable[[], float] | None = None,
        connect_timeout_s: float = 2.0,
        timeout_s: float = 5.0,
    ) -> None:
        if not _PREFIX_RE.fullmatch(key_prefix):
            raise ValueError(
                f"key_prefix must be non-empty and use only letters, digits and _.:- "
                f"(got {key_prefix!r})"
            )
        self.key_prefix = key_prefix
        self.url = _redact(url)
        self._clock = clock
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # at most once: a retried write could misreport
            client_name=f"shopfleet-state-{key_prefix}",
            **_CLIENT_OPTIONS,
        )
        self._get = self._redis.register_script(_GET)
        self._apply = self._redis.register_script(_APPLY)

    @property
    def key_pattern(self) -> str:
        """A SCAN MATCH pattern for every Redis key of this store (the prefix is glob-safe)."""
        return f"{self.key_prefix}{SEPARATOR}*"

    def redis_key(self, key: str) -> str:
        return f"{self.key_prefix}{SEPARATOR}{key}"

    async def open(self) -> Self:
        try:
            await self._redis.ping()
            for script in (self._get, self._apply):
                await self._redis.script_load(script.script)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateStoreUnavailable(self.url, exc) from exc
        return self

    async def close(self) -> None:
        await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------- reads

    async def get(self, key: str) -> StateItem | None:
        return (await self.get_bulk([key])).get(key)

    async def get_bulk(self, keys: Sequence[str]) -> dict[str, StateItem]:
        wanted = list(dict.fromkeys(keys))
        now = self._now_arg()  # an injected clock is read once for all chunks
        found: dict[str, StateItem] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = await self._run(self._get, [self.redis_key(k) for k in chunk], [now], attempts=2)
            for key, row in zip(chunk, rows, strict=True):
                if row is not None:
                    value, etag = row
                    found[key] = StateItem(key=key, value=orjson.loads(value), etag=etag.decode())
        return found

    # ------------------------------------------------------------------------- writes

    async def save(
        self, key: str, value: JSON, *, etag: str | None = None, ttl_s: int | None = None
    ) -> str:
        new_etags = await self._transact([StateOp.upsert(key, value, etag=etag, ttl_s=ttl_s)])
        return new_etags[0]

    async def delete(self, key: str, *, etag: str | None = None) -> None:
        await self._transact([StateOp.remove(key, etag=etag)])

    async def transact(self, ops: Sequence[StateOp]) -> None:
        await self._transact(ops)

    async def _transact(self, ops: Sequence[StateOp]) -> list[str]:
        """Apply `ops` atomically; returns the new ETag of each op ('' for deletes)."""
        if not ops:
            return []
        keys: list[str] = []
        args: list[Any] = [self._now_arg()]
        new_etags: list[str] = []
        for op in ops:  # validate and encode everything before talking to Redis
            _check_key(op.key)
            ttl_ms = _ttl_ms(op.ttl_s)
            keys.append(self.redis_key(op.key))
            if op.delete:
                new_etags.append("")
                args += ["del", _flag(op.etag), op.etag or "", b"", "", 0]
            else:
                new_etag = uuid.uuid4().hex
                new_etags.append(new_etag)
                blob = orjson.dumps(op.value)  # TypeError for values that are not JSON
                args += ["set", _flag(op.etag), op.etag or "", blob, new_etag, ttl_ms]
        failed = await self._run(self._apply, keys, args)
        if failed:
            key = ops[int(failed) - 1].key
            raise ETagMismatch(
                f"{key!r} changed, expired or does not exist (ETag no longer matches)"
            )
        return new_etags

    # ------------------------------------------------------------------------- helpers

    def _now_arg(self) -> str:
        return "" if self._clock is None else str(int(self._clock() * 1000))

    async def _run(
        self, script: Any, keys: list[str], args: list[Any], *, attempts: int = 1
    ) -> Any:
        """Run `script`; only reads pass `attempts` > 1 (a write is sent at most once)."""
        attempt = 1
        while True:
            try:
                return await script(keys=keys, args=args)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                if attempt >= attempts:
                    raise StateStoreUnavailable(self.url, exc) from exc
                attempt += 1


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("state key must be a non-empty string")


def _flag(etag: str | None) -> str:
    return "0" if etag is None else "1"


def _ttl_ms(ttl_s: float | None) -> int:
    if ttl_s is None:
        return 0
    if not 0 < ttl_s <= MAX_TTL_S:  # also rejects NaN
        raise ValueError(f"ttl_s must be a positive number of seconds, got {ttl_s}")
    return max(1, math.ceil(ttl_s * 1000))


def _redact(url: str) -> str:
    """`url` with its password (if any) masked, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
