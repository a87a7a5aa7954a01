"""One async database per service: engine, sessions and alembic migrations.

PostgreSQL (asyncpg) in a cluster, SQLite (aiosqlite) in the embedded platform. On SQLite
a writing transaction begins with `BEGIN IMMEDIATE`, so two writers queue on the lock
instead of one failing when it upgrades a read lock (this process's writers queue on an
asyncio lock first; other processes' on the busy timeout), and statements run on the
event loop's thread (`InlineConnection`).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_, in_greenlet

from shopfleet.kit.blocks.local.sqlite import InlineConnection
from shopfleet.kit.private_files import private_sqlite_file
from shopfleet.kit.settings import ServiceSettings

_READ_ONLY = "shopfleet_read_only"
_BUSY_TIMEOUT_S = 10.0
_HELD = "shopfleet_write_lock"
_SERVICE = "shopfleet_service"  # session.info key: the service whose database it is
# One FIFO lock per SQLite file and event loop, taken before BEGIN IMMEDIATE and given back
# when the connection returns to the pool (right after COMMIT/ROLLBACK). Writers of this
# process then queue in order on the loop instead of in SQLite's busy handler, whose
# back-off sleeps (up to 100 ms a try) left the lock idle and starved unlucky writers into
# "database is locked" under load. Other processes still meet BEGIN IMMEDIATE's busy wait.
_WRITE_LOCKS: dict[tuple[str, asyncio.AbstractEventLoop], asyncio.Lock] = {}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores UTC; hands back aware datetimes even from SQLite, which keeps no offset."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _sqlite_file_engine(url: str, **kw: Any) -> AsyncEngine:
    path = make_url(url).database
    assert path
    timeout_s = float(kw.pop("connect_args", {}).get("timeout", _BUSY_TIMEOUT_S))

    # aiosqlite's API on the loop's thread (see InlineConnection): no thread hop per
    # statement. Writers of this process queue on `_WRITE_LOCKS` before BEGIN IMMEDIATE and
    # WAL readers never wait, so the loop meets SQLite's busy wait only when another
    # process writes the file.
    async def connect() -> InlineConnection:
        return await InlineConnection(path, timeout=timeout_s, check_same_thread=False)

    return create_async_engine(url, async_creator=connect, **kw)


def _prepare_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    in_memory = engine.url.database in (None, "", ":memory:")
    key = "" if in_memory else str(Path(str(engine.url.database)).resolve())

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get(_READ_ONLY, False):
            if not in_memory and in_greenlet() and _HELD not in conn.info:
                lock = _WRITE_LOCKS.setdefault((key, asyncio.get_running_loop()), asyncio.Lock())
                await_(_acquire(lock))
                conn.info[_HELD] = lock
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release(conn.info)
                raise

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        _release(record.info)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(_dbapi_conn: Any, record: ConnectionPoolEntry, _exc: object) -> None:
        _release(record.info)


async def _acquire(lock: asyncio.Lock) -> None:
    try:
        async with asyncio.timeout(_BUSY_TIMEOUT_S):
            await lock.acquire()
    except TimeoutError:  # what SQLite's own busy timeout would have raised
        raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked")) from None


def _release(info: dict[Any, Any]) -> None:
    lock = info.pop(_HELD, None)
    if lock is not None and lock.locked():
        lock.release()


_UNDEFINED_DATABASE = "3D000"  # invalid_catalog_name: "database ... does not exist"
_ALREADY_CREATED = {"42P04", "23505"}  # duplicate_database; a concurrent CREATE's race


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None) or exc
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


async def ensure_database(url: sa.URL | str) -> bool:
    """Create the PostgreSQL database `url` names when connecting fails with 3D000 ("does
    not exist"), through the `postgres` maintenance database as the same user (who needs
    CREATEDB). Idempotent, and safe when several processes race to create it: True when
    this call created it."""
    url = make_url(url) if isinstance(url, str) else url
    probe = create_async_engine(url, poolclass=sa.pool.NullPool)
    try:
        async with probe.connect():
            return False
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) != _UNDEFINED_DATABASE:
            raise
    finally:
        await probe.dispose()
    assert url.database
    admin = create_async_engine(
        url.set(database="postgres"), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    quoted = admin.dialect.identifier_preparer.quote_identifier(url.database)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {quoted}"))
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) not in _ALREADY_CREATED:
            raise
        return False
    finally:
        await admin.dispose()
    return True


class Database:
    """A service's database: `session()` for work that writes, `reader()` for reads."""

    def __init__(self, url: str, *, service: str, migrations: Path, pool_size: int = 10) -> None:
        self.service = service
        self.migrations = migrations
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            in_memory = parsed.database in (None, "", ":memory:")
            if not in_memory:  # the owner's only, -wal and -shm too (they take its mode)
                private_sqlite_file(Path(str(parsed.database)))
            engine: Callable[..., AsyncEngine] = create_async_engine
            pool: dict[str, Any] = {}
            if not in_memory:
                # Writers wait on the write lock holding a pooled connection: a pool as big
                # as the overflow keeps connections from being opened and closed per write.
                engine, pool = (
                    _sqlite_file_engine,
                    dict(pool_size=2 * pool_size, max_overflow=pool_size),
                )
            self.engine = engine(url, connect_args={"timeout": 10}, **pool)
            _prepare_sqlite(self.engine)
            # Reads run without BEGIN/ROLLBACK (each statement is its own snapshot): two
            # statements fewer per read.
            self.read_engine = engine(
                url, connect_args={"timeout": 10}, pool_reset_on_return=None, **pool
            )
            _prepare_sqlite(self.read_engine)
        else:
            self.engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            # Autocommit reads: no BEGIN and no ROLLBACK round trips around each request.
            self.read_engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,
            )
        # Each session names its service: the outbox checks who publishes (`service_of`).
        owner = {_SERVICE: service}
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, info=owner)
        self._readers = async_sessionmaker(
            self.read_engine.execution_options(**{_READ_ONLY: True}),
            expire_on_commit=False,
            info=owner,
        )

    @classmethod
    def for_service(cls, name: str, settings: ServiceSettings, migrations: Path) -> Database:
        """Service `name`'s database as its settings say (URL, pool size), with its migrations."""
        return cls(
            settings.resolved_database_url(name),
            service=name,
            migrations=migrations,
            pool_size=settings.db_pool_size,
        )

    def session(self) -> AsyncSession:
        return self._sessions()

    def reader(self) -> AsyncSession:
        return self._readers()

    async def migrate(self) -> None:
        """Bring the schema to the newest alembic revision (safe to run from many replicas).

        On PostgreSQL a database that does not exist yet is created first (`ensure_database`).
        """
        if not self.is_sqlite:
            await ensure_database(self.engine.url)
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                lock_id = zlib.crc32(f"shopfleet-migrate-{self.service}".encode())
                await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
            try:
                await conn.run_sync(self._upgrade)
                await conn.commit()
            finally:
                if not self.is_sqlite:
                    await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                    await conn.commit()

    def _upgrade(self, sync_conn: Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.migrations))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.read_engine.dispose()


def service_of(session: AsyncSession) -> str | None:
    """The service whose `Database` made `session`; None for a session made elsewhere."""
    service = session.info.get(_SERVICE)
    return service if isinstance(service, str) else None


def rowcount(result: sa.Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE matched. `Session.execute` types every result as
    a `Result`; a DML statement's is a `CursorResult`, the one that counts its rows."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} has no row count: not a DML statement's")
    return result.rowcount


def dialect_insert(session: AsyncSession, table: sa.Table) -> Any:
    """The INSERT of the session's dialect: both have ON CONFLICT, with the same API."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def upsert(
    session: AsyncSession,
    table: sa.Table,
    values: Mapping[str, Any],
    *,
    keys: Sequence[Any],
    update: Sequence[str],
    where: sa.ColumnElement[bool] | None = None,
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update-columns [WHERE where]; not executed.

    In `where`, `excluded(session, table).x` is the value that was to be inserted.
    """
    stmt = dialect_insert(session, table).values(dict(values))
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}, where=where
    )


def excluded(session: AsyncSession, table: sa.Table) -> Any:
    """The `excluded` pseudo-table of an upsert into `table` (for its WHERE clause)."""
    return dialect_insert(session, table).excluded


def run_migrations_env() -> None:
    """The body of every service's `migrations/env.py`: run on the connection we hand in."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.session() as session:
        yield session


async def get_reader(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.reader() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReaderDep = Annotated[AsyncSession, Depends(get_reader)]

# A row read by column name: a mapping of ours, or SQLAlchemy's RowMapping (which types its
# keys as names or columns, so it is no `Mapping[str, Any]` to mypy).
NamedRow = Mapping[str, Any] | sa.RowMapping
