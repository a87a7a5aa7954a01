"""`LocalStateStore`: the StateStore port on a SQLite file.

Values are stored as orjson bytes. Each write gets a fresh random ETag (never reused, so
a delete-then-recreate cannot make an old ETag valid again). An item past its
`expires_at` is treated as absent by every read and ETag check; expired rows are removed
when a read meets them and by a sweep that runs at most every `sweep_interval_s`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiosqlite
import orjson

from shopfleet.kit.blocks.local.sqlite import SqliteFile
from shopfleet.kit.blocks.ports import JSON, ETagMismatch, StateItem, StateOp, StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    etag       TEXT NOT NULL,
    expires_at REAL                -- unix seconds; NULL = never
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS state_expires_at ON state (expires_at) WHERE expires_at IS NOT NULL;
"""

_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_CHUNK = 500  # keys per IN (...) query, well under SQLite's variable limit


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A validated op with its value already encoded (so bad input fails before the lock)."""

    op: StateOp
    blob: bytes
    expires_at: float | None


class LocalStateStore(StateStore):
    """Key/value state with ETags and TTL in one SQLite file. Open with `await open(path)`."""

    def __init__(
        self, db: SqliteFile, *, clock: Callable[[], float], sweep_interval_s: float
    ) -> None:
        self._db = db
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._last_sweep = clock()

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        sweep_interval_s: float = 60.0,
    ) -> LocalStateStore:
        db = await SqliteFile.open(path, SCHEMA)
        return cls(db, clock=clock, sweep_interval_s=sweep_interval_s)

    async def close(self) -> None:
        await self._db.close()

    # ------------------------------------------------------------------------- reads

    async def get(self, key: str) -> StateItem | None:
        return (await self.get_bulk([key])).get(key)

    async def get_bulk(self, keys: Sequence[str]) -> dict[str, StateItem]:
        now = self._clock()
        wanted = list(dict.fromkeys(keys))
        found: dict[str, StateItem] = {}
        expired: list[str] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                f"SELECT key, value, etag, expires_at FROM state WHERE key IN ({marks})", chunk
            )
            for key, value, etag, expires_at in rows:
                if expires_at is not None and expires_at <= now:
                    expired.append(key)
                else:
                    found[key] = StateItem(key=key, value=orjson.loads(value), etag=etag)
        if expired:
            await self._purge(expired, now)
        return found

    # ------------------------------------------------------------------------- writes

    async def save(
        self, key: str, value: JSON, *, etag: str | None = None, ttl_s: int | None = None
    ) -> str:
        now = self._clock()
        prepared = _prepare(StateOp.upsert(key, value, etag=etag, ttl_s=ttl_s), now)
        async with self._db.transaction() as conn:
            await self._maybe_sweep(conn, now)
            new_etag = await _apply(conn, prepared, now)
        assert new_etag is not None
        return new_etag

    async def delete(self, key: str, *, etag: str | None = None) -> None:
        now = self._clock()
        prepared = _prepare(StateOp.remove(key, etag=etag), now)
        async with self._db.transaction() as conn:
            await _apply(conn, prepared, now)

    async def transact(self, ops: Sequence[StateOp]) -> None:
        now = self._clock()
        prepared = [_prepare(op, now) for op in ops]
        # One SQLite transaction: an ETagMismatch from any op rolls back all earlier ones.
        async with self._db.transaction() as conn:
            await self._maybe_sweep(conn, now)
            for item in prepared:
                await _apply(conn, item, now)

    # ------------------------------------------------------------------------- expiry

    async def _purge(self, keys: list[str], now: float) -> None:
        async with self._db.transaction() as conn:
            await conn.executemany(
                "DELETE FROM state WHERE key = ? AND expires_at <= ?", [(k, now) for k in keys]
            )

    async def _maybe_sweep(self, conn: aiosqlite.Connection, now: float) -> None:
        if now - self._last_sweep < self._sweep_interval_s:
            return
        self._last_sweep = now
        await conn.execute("DELETE FROM state WHERE expires_at <= ?", (now,))


def _prepare(op: StateOp, now: float) -> _Prepared:
    if not isinstance(op.key, str) or not op.key:
        raise ValueError("state key must be a non-empty string")
    if op.ttl_s is not None and op.ttl_s <= 0:
        raise ValueError(f"ttl_s must be a positive number of seconds, got {op.ttl_s}")
    blob = b"" if op.delete else orjson.dumps(op.value)  # TypeError for non-JSON values
    expires_at = None if op.ttl_s is None else now + op.ttl_s
    return _Prepared(op=op, blob=blob, expires_at=expires_at)


async def _apply(conn: aiosqlite.Connection, item: _Prepared, now: float) -> str | None:
    """Run one op inside the caller's transaction; returns the new ETag of an upsert."""
    op = item.op
    if op.delete:
        if op.etag is None:
            await conn.execute("DELETE FROM state WHERE key = ?", (op.key,))
            return None
        cursor = await conn.execute(
            f"DELETE FROM state WHERE key = ? AND etag = ? AND {_LIVE}", (op.key, op.etag, now)
        )
        _check_matched(cursor.rowcount, op.key)
        return None
    new_etag = uuid.uuid4().hex
    if op.etag is None:
        await conn.execute(
            "INSERT INTO state (key, value, etag, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, "
            "expires_at = excluded.expires_at",
            (op.key, item.blob, new_etag, item.expires_at),
        )
        return new_etag
    cursor = await conn.execute(
        "UPDATE state SET value = ?, etag = ?, expires_at = ? "
        f"WHERE key = ? AND etag = ? AND {_LIVE}",
        (item.blob, new_etag, item.expires_at, op.key, op.etag, now),
    )
    _check_matched(cursor.rowcount, op.key)
    return new_etag


def _check_matched(rowcount: int, key: str) -> None:
    if rowcount != 1:
        raise ETagMismatch(f"{key!r} changed, expired or does not exist (ETag no longer matches)")
