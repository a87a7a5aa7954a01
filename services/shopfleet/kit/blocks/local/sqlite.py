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
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from pathlib import Path
from queue import SimpleQueue
from typing import Any, TypeVar

import aiosqlite

from shopfleet.kit.private_files import private_sqlite_file

BUSY_TIMEOUT_S = 10.0

T = TypeVar("T")
# aiosqlite's job: the future to settle (None when nobody waits) and the call to run.
_Job = tuple[asyncio.Future[Any] | None, Callable[[], Any]]


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's API, run on the event loop's thread instead of a thread per connection.

    A statement on a local SQLite file in WAL mode takes microseconds; handing it to a
    thread and back costs two thread wake-ups, which on a busy machine took milliseconds
    each, were most of a checkout's latency, and stretched every write transaction over
    many loop turns while it held the file's one write lock. The price: while another
    process holds the write lock, the loop waits in SQLite's busy handler. Users keep this
    process's own writers from meeting each other there (an asyncio lock before BEGIN).
    """

    class _Now(SimpleQueue[_Job]):
        """Stands in for aiosqlite's job queue (SQLAlchemy queues onto it directly): runs
        each job as it is put, so nothing is ever queued."""

        def put_nowait(self, item: _Job) -> None:
            future, function = item
            try:
                result = function()
            except BaseException as exc:
                if future is not None:
                    future.set_exception(exc)
                return
            if future is not None:
                future.set_result(result)

    def __init__(self, path: str | os.PathLike[str], **sqlite_kwargs: Any) -> None:
        super().__init__(lambda: sqlite3.connect(path, **sqlite_kwargs), iter_chunk_size=64)
        self._tx = self._Now()

    async def _execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # no thread to start

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


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
        file = private_sqlite_file(Path(path))  # 0600, and so are its -wal and -shm
        conn = await InlineConnection(file, isolation_level=None, timeout=BUSY_TIMEOUT_S)
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
