"""One aiosqlite connection per local adapter, with WAL and serialized transactions.

Each adapter owns one connection. Its statements interleave on a single SQLite
connection, so an `asyncio.Lock` keeps one coroutine's transaction (or read) from
seeing another's uncommitted rows. Writers begin with `BEGIN IMMEDIATE` so another
connection on the same file waits on the busy timeout instead of failing to upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_TIMEOUT_S = 10.0


class SqliteFile:
    """A SQLite file opened for one adapter: `transaction()` to write, `fetchall()` to read."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.path = path
        self._conn = conn
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str], schema: str) -> SqliteFile:
        """Open (creating it and its directory if needed) and apply the idempotent `schema`."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(file, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
            await conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            await conn.executescript(schema)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, file)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        async with self._lock:
            self._check_open()
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
            except BaseException:
                # Queued after BEGIN on the connection's thread, so it always pairs with it.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            self._check_open()
            return [tuple(row) for row in await self._conn.execute_fetchall(sql, tuple(params))]

    async def close(self) -> None:
        async with self._lock:
            if not self._closed:
                self._closed = True
                await self._conn.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.path} is closed")
