"""The double's `state.postgresql` store: the StateStore port on PostgreSQL (asyncpg), with
the operations the Dapr adapter uses: get, bulk get, save and delete with ETags (first write
wins) and TTL, and all-or-nothing transactions.

Layout, like Dapr's v2 component: one table `<tablePrefix>state` (v1: `tableName`, default
`state`) with `key text primary key, value jsonb, etag uuid, expires_at timestamptz`, keys
stored as `<prefix>||<key>`; expired rows are invisible at once and deleted by a background
task every `cleanupInterval`. The ETag is a fresh UUID per write (never reused).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import shlex
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Self
from urllib.parse import quote

import asyncpg
import orjson

from shopfleet.kit.blocks.ports import ETagMismatch, StateItem, StateOp

SEPARATOR = "||"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class PostgresStateStore:
    def __init__(
        self,
        dsn: str,
        *,
        table: str,
        key_prefix: str,
        timeout_s: float = 20.0,
        cleanup_interval_s: float | None = 3600.0,
        max_conns: int = 10,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not _IDENT.fullmatch(table):
            raise ValueError(f"invalid table name {table!r}")
        self.dsn = dsn
        self.table = table
        self.key_prefix = key_prefix
        self.timeout_s = timeout_s
        self.cleanup_interval_s = cleanup_interval_s
        self.max_conns = max(1, max_conns)
        self._clock = clock  # tests: TTL time (else the database's now())
        self._pool: asyncpg.Pool | None = None
        self._cleanup: asyncio.Task[None] | None = None

    def db_key(self, key: str) -> str:
        return f"{self.key_prefix}{SEPARATOR}{key}" if self.key_prefix else key

    async def open(self) -> Self:
        self._pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=self.max_conns, timeout=self.timeout_s
        )
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                "key text PRIMARY KEY, value jsonb NOT NULL, etag uuid NOT NULL, "
                "expires_at timestamptz NULL)"
            )
        if self.cleanup_interval_s:
            self._cleanup = asyncio.create_task(self._clean_forever())
        return self

    async def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup.cancel()
            with contextlib.suppress(BaseException):
                await self._cleanup
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _clean_forever(self) -> None:
        assert self.cleanup_interval_s
        while True:
            await asyncio.sleep(self.cleanup_interval_s)
            with contextlib.suppress(Exception):
                await self._db().execute(
                    f"DELETE FROM {self.table} WHERE expires_at IS NOT NULL AND expires_at < now()"
                )

    def _now(self) -> dt.datetime | None:
        return None if self._clock is None else dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def _db(self) -> asyncpg.Pool:
        assert self._pool is not None, "open() first"
        return self._pool

    # $1 is always "now": the injected clock's, or NULL for the database's.
    _LIVE = "(expires_at IS NULL OR expires_at > COALESCE($1::timestamptz, now()))"

    async def get(self, key: str) -> StateItem | None:
        row = await self._db().fetchrow(
            f"SELECT value, etag FROM {self.table} WHERE key = $2 AND {self._LIVE}",
            self._now(),
            self.db_key(key),
            timeout=self.timeout_s,
        )
        return None if row is None else StateItem(key, orjson.loads(row["value"]), str(row["etag"]))

    async def get_bulk(self, keys: Sequence[str]) -> dict[str, StateItem]:
        wanted = {self.db_key(k): k for k in keys}
        rows = await self._db().fetch(
            f"SELECT key, value, etag FROM {self.table} WHERE key = ANY($2) AND {self._LIVE}",
            self._now(),
            list(wanted),
            timeout=self.timeout_s,
        )
        return {
            wanted[r["key"]]: StateItem(wanted[r["key"]], orjson.loads(r["value"]), str(r["etag"]))
            for r in rows
        }

    async def save(
        self, key: str, value: Any, *, etag: str | None = None, ttl_s: int | None = None
    ) -> str:
        [new] = await self._apply([StateOp.upsert(key, value, etag=etag, ttl_s=ttl_s)])
        return new

    async def delete(self, key: str, *, etag: str | None = None) -> None:
        await self._apply([StateOp.remove(key, etag=etag)])

    async def transact(self, ops: Sequence[StateOp]) -> None:
        await self._apply(ops)

    async def _apply(self, ops: Sequence[StateOp]) -> list[str]:
        etags = []
        async with self._db().acquire() as conn, conn.transaction():
            for op in ops:
                key = self.db_key(op.key)
                if op.etag is not None:
                    current = await conn.fetchval(
                        f"SELECT etag FROM {self.table} WHERE key = $2 AND {self._LIVE} FOR UPDATE",
                        self._now(),
                        key,
                    )
                    if current is None or str(current) != op.etag:
                        raise ETagMismatch(f"key {op.key}: etag {op.etag!r} does not match")
                if op.delete:
                    await conn.execute(f"DELETE FROM {self.table} WHERE key = $1", key)
                    etags.append("")
                    continue
                new = uuid.uuid4()
                await conn.execute(
                    f"INSERT INTO {self.table} (key, value, etag, expires_at) VALUES ($1, $2, $3, "
                    "CASE WHEN $4::float8 IS NULL THEN NULL "
                    "ELSE COALESCE($5::timestamptz, now()) + make_interval(secs => $4::float8) "
                    "END) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                    "etag = EXCLUDED.etag, expires_at = EXCLUDED.expires_at",
                    key,
                    orjson.dumps(op.value).decode(),
                    new,
                    float(op.ttl_s) if op.ttl_s else None,
                    self._now(),
                )
                etags.append(str(new))
        return etags


def libpq_to_dsn(dsn: str) -> str:
    """asyncpg takes URLs; Dapr's connection strings are often libpq `key=value` lists."""
    if "://" in dsn:
        return dsn
    params = dict(part.split("=", 1) for part in shlex.split(dsn) if "=" in part)
    user = quote(params.pop("user", ""), safe="")
    password = quote(params.pop("password", ""), safe="")
    host = params.pop("host", "localhost")
    port = params.pop("port", "5432")
    db = params.pop("dbname", params.pop("database", ""))
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    query = "&".join(
        f"{k}={quote(v, safe='')}" for k, v in params.items() if k != "connect_timeout"
    )
    return f"postgresql://{auth}{host}:{port}/{db}" + (f"?{query}" if query else "")
