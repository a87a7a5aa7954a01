"""Hot reads on the driver itself: Core statements compiled once, run without an ORM.

A statement is built with SQLAlchemy Core (bind parameters for the values), compiled
once per key, and then run on the driver itself:

- PostgreSQL: an asyncpg pool of its own. SQLAlchemy's connection checkout and execution
  measured ≈ 330 µs of CPU per page of 20, asyncpg with the same SQL ≈ 90 µs.
- SQLite: stdlib `sqlite3` in a few threads, one thread hop per query. Through aiosqlite
  (a hop per BEGIN, execute, fetch and ROLLBACK) the same page measured 6× slower.

Either way one statement in autocommit reads one consistent snapshot, and the types'
own bind and result processors keep values as SQLAlchemy would hand them. Writes and
anything transactional stay on `Database.session()`. (benchmarks/README.md has numbers.)
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url

from shopfleet.kit.db import Database, NamedRow

log = structlog.get_logger("shopfleet.reads")
# A connection that died under us (database restart, idle cut): worth one retry.
_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError, OSError)

Builder = Callable[[Any], sa.Select[Any]]
Query = tuple[Hashable, Builder, Mapping[str, Any]]  # (key, build, values): see `FastReader`


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # parameters, in positional order
    literals: dict[str, Any]  # values of the statement's literal parameters
    binds: dict[str, Callable[[Any], Any]]  # the types' bind processors, where they have one
    results: tuple[tuple[str, Callable[[Any], Any]], ...]  # and their result processors

    @classmethod
    def of(cls, stmt: sa.Select[Any], dialect: sa.Dialect) -> _Compiled:
        compiled = stmt.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        binds: dict[str, Callable[[Any], Any]] = {}
        for name in names:
            processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds[name] = processor
        results = []
        for column in stmt.selected_columns:
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                results.append((column.name, processor))
        return cls(str(compiled), names, dict(compiled.params), binds, tuple(results))

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        out = []
        for name in self.names:
            value = values[name] if name in values else self.literals[name]
            processor = self.binds.get(name)
            out.append(processor(value) if processor is not None and value is not None else value)
        return out

    def rows(self, raw: Sequence[Any]) -> Sequence[Mapping[str, Any]]:
        if not self.results:
            return raw
        out = []
        for record in raw:
            row = dict(record)
            for name, processor in self.results:
                row[name] = processor(row[name])
            out.append(row)
        return out


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """Decode json/jsonb as SQLAlchemy's asyncpg dialect does (it installs the same codecs)."""
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            schema="pg_catalog",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
        )


async def _keep(_conn: asyncpg.Connection) -> None:
    """Instead of asyncpg's reset on release (a round trip of RESET ALL, UNLISTEN, …)."""


class FastReader:
    """Runs a service's hot read statements on the driver itself (see the module doc).

    `rows(key, build, values)`: `build(key)` makes a Core statement with bind parameters;
    it is compiled once per key and run with `values` in autocommit (one snapshot).
    `many(*queries)`: several such reads in one trip.
    """

    def __init__(
        self, db: Database, *, pool_size: int, acquire_timeout_s: float = 10.0, name: str = "reads"
    ) -> None:
        self.db = db
        self.pool_size, self.acquire_timeout_s = pool_size, acquire_timeout_s
        self._pool: asyncpg.Pool | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._sqlite_path = ""
        self._sqlite_connections: list[sqlite3.Connection] = []
        self._compiled: dict[Hashable, _Compiled] = {}
        self._name = name

    async def start(self) -> None:
        url = make_url(self.db.engine.url)
        if not self.db.is_sqlite:
            self._pool = await asyncpg.create_pool(
                url.set(drivername="postgresql").render_as_string(hide_password=False),
                min_size=1,
                max_size=self.pool_size,
                init=_json_codecs,
                reset=_keep,  # these connections only ever run one SELECT: nothing to reset
            )
        elif url.database and url.database != ":memory:":
            self._sqlite_path = url.database
            self._threads = ThreadPoolExecutor(
                max_workers=min(4, self.pool_size), thread_name_prefix=f"{self._name}-sqlite"
            )

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
            for conn in self._sqlite_connections:
                conn.close()
            self._sqlite_connections.clear()

    def compiled(self, key: Hashable, build: Builder) -> _Compiled:
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _Compiled.of(build(key), self.db.engine.dialect)
        return found

    async def rows(
        self, key: Hashable, build: Builder, values: Mapping[str, Any]
    ) -> Sequence[NamedRow]:
        """The rows of `build(key)` for these values (mappings by column name)."""
        compiled = self.compiled(key, build)
        args = compiled.args(values)
        if self._pool is not None:
            try:
                return compiled.rows(await self._fetch(compiled.sql, args))
            except _LOST as exc:
                log.warning("read connection lost; retrying once", error=str(exc))
                return compiled.rows(await self._fetch(compiled.sql, args))
        if self._threads is not None:
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(self._threads, self._sqlite_fetch, compiled.sql, args)
            return compiled.rows(raw)
        async with self.db.reader() as session:  # an in-memory database: SQLAlchemy's own
            result = await session.execute(build(key), dict(values))
            return result.mappings().all()

    async def many(self, *queries: Query) -> list[Sequence[NamedRow]]:
        """The rows of each `(key, build, values)`, in order, in one trip: one thread hop
        on SQLite, one pooled connection on PostgreSQL (each statement its own snapshot,
        as with `rows`)."""
        compiled = [self.compiled(key, build) for key, build, _ in queries]
        args = [c.args(values) for c, (_, _, values) in zip(compiled, queries, strict=True)]
        statements = [(c.sql, a) for c, a in zip(compiled, args, strict=True)]
        if self._pool is not None:
            try:
                raws = await self._fetch_many(statements)
            except _LOST as exc:
                log.warning("read connection lost; retrying once", error=str(exc))
                raws = await self._fetch_many(statements)
        elif self._threads is not None:
            loop = asyncio.get_running_loop()
            raws = await loop.run_in_executor(self._threads, self._sqlite_fetch_many, statements)
        else:  # an in-memory database: one at a time, through SQLAlchemy
            return [await self.rows(*query) for query in queries]
        return [c.rows(raw) for c, raw in zip(compiled, raws, strict=True)]

    async def _fetch_many(self, statements: list[tuple[str, list[Any]]]) -> list[Any]:
        assert self._pool is not None
        async with self._pool.acquire(timeout=self.acquire_timeout_s) as conn:
            return [await conn.fetch(sql, *args) for sql, args in statements]

    def _sqlite_fetch_many(self, statements: list[tuple[str, list[Any]]]) -> list[Any]:
        return [self._sqlite_fetch(sql, args) for sql, args in statements]

    async def _fetch(self, sql: str, args: list[Any]) -> list[asyncpg.Record]:
        assert self._pool is not None
        async with self._pool.acquire(timeout=self.acquire_timeout_s) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)  # asyncpg has no types
            return rows

    def _sqlite_fetch(self, sql: str, args: list[Any]) -> list[sqlite3.Row]:
        conn = getattr(self._local, "conn", None)
        if conn is None:  # one read-only connection per thread, in autocommit
            conn = sqlite3.connect(
                self._sqlite_path, timeout=10, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only=ON")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            self._sqlite_connections.append(conn)
        return conn.execute(sql, args).fetchall()
