"""Transactional outbox, its relay, and the inbox: how events leave and enter a service.

A service writes its domain rows and the events they cause in one transaction
(`Outbox.add`, typed on the topic, which checks who publishes it); `OutboxRelay` publishes
committed events, then marks them published. A crash between the two publishes an event
again but never loses one (at-least-once), so consumers de-duplicate by event id in the
same transaction as their effect (kit/inbox.py; services subscribe through the router of
kit/subscriptions.py). On SQLite the marks are written lazily (`_SqliteFileMarks`): a
crash republishes what was published in the last `mark_delay_s` or so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, overload

import orjson
import sqlalchemy as sa
import structlog
from alembic import op
from pydantic import BaseModel
from sqlalchemy.engine import Engine, Row
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, PubSub, new_event_id
from shopfleet.kit.contracts.events import TOPICS
from shopfleet.kit.contracts.topics import EventPayload, ForeignTopicError, Topic
from shopfleet.kit.db import Database, UTCDateTime, service_of

# The inbox lived here: its names stay importable from this module.
from shopfleet.kit.inbox import INBOX as INBOX
from shopfleet.kit.inbox import Inbox as Inbox
from shopfleet.kit.inbox import PermanentEventError as PermanentEventError
from shopfleet.kit.inbox import delete_before, inbox_columns
from shopfleet.kit.inbox import idempotent_handler as idempotent_handler

log = structlog.get_logger("shopfleet.outbox")


# Columns are built by functions so the migration helpers and the Tables share one definition.
def _outbox_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(255), primary_key=True),  # the CloudEvent id
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("shop", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),  # the event data as JSON
        sa.Column("traceparent", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    ]


_PENDING_INDEX = "ix_outbox_published_at_created_at"
METADATA = sa.MetaData()
OUTBOX = sa.Table(
    "outbox", METADATA, *_outbox_columns(), sa.Index(_PENDING_INDEX, "published_at", "created_at")
)


def create_outbox_tables() -> None:
    """Create `outbox` and `inbox`; call from a service's first alembic migration."""
    op.create_table("outbox", *_outbox_columns())
    op.create_index(_PENDING_INDEX, "outbox", ["published_at", "created_at"])
    op.create_table("inbox", *inbox_columns())


def drop_outbox_tables() -> None:
    """Undo `create_outbox_tables` (the migration's downgrade)."""
    op.drop_table("inbox")
    op.drop_index(_PENDING_INDEX, table_name="outbox")
    op.drop_table("outbox")


_last_created = datetime.min.replace(tzinfo=UTC)


def _created_now() -> datetime:
    """Strictly increasing within the process: events added together keep their order."""
    global _last_created
    now = datetime.now(UTC)
    _last_created = now if now > _last_created else _last_created + timedelta(microseconds=1)
    return _last_created


# Running relays by engine, so a commit that added events wakes them at once.
_RELAYS: weakref.WeakKeyDictionary[Engine, set[OutboxRelay]] = weakref.WeakKeyDictionary()
_NOTIFY_KEY = "shopfleet.outbox.notify"


def _notify_on_commit(session: AsyncSession) -> None:
    sync = session.sync_session
    if sync.info.get(_NOTIFY_KEY):
        return
    sync.info[_NOTIFY_KEY] = True
    engine = session.get_bind().engine

    def wake(_session: Any) -> None:
        for relay in list(_RELAYS.get(engine, ())):
            relay.notify()

    sa.event.listen(sync, "after_commit", wake)


P = TypeVar("P", bound=EventPayload)


class Outbox:
    """The one way an event leaves a service: `await Outbox.add(session, TOPIC, payload,
    shop=...)`, in the transaction that caused it.

    `TOPIC` is a `Topic` of kit/contracts/events.py and `payload` an instance of its model
    (TypeError otherwise). The outbox is the service's: the session's `Database` names the
    service, and a topic another service owns is refused (`ForeignTopicError`). A plain
    name publishes a topic outside the contracts (the relay's own tests), never one of them.
    """

    @overload
    @staticmethod
    async def add(
        session: AsyncSession,
        topic: Topic[P],
        data: P,
        *,
        shop: str,
        event_id: str | None = None,
        traceparent: str | None = None,
    ) -> str: ...

    @overload
    @staticmethod
    async def add(
        session: AsyncSession,
        topic: str,
        data: BaseModel | Mapping[str, Any],
        *,
        shop: str,
        event_id: str | None = None,
        traceparent: str | None = None,
    ) -> str: ...

    @staticmethod
    async def add(
        session: AsyncSession,
        topic: str,
        data: BaseModel | Mapping[str, Any],
        *,
        shop: str,
        event_id: str | None = None,
        traceparent: str | None = None,
    ) -> str:
        """Queue an event in the caller's transaction; returns its id. It leaves on commit."""
        body = _wire_payload(session, topic, data)
        event_id = event_id or new_event_id()
        row: dict[str, Any] = dict(
            id=event_id, topic=topic, shop=shop, traceparent=traceparent, attempts=0
        )
        row |= dict(payload=orjson.dumps(body).decode(), created_at=_created_now())
        await session.execute(sa.insert(OUTBOX).values(row))
        _notify_on_commit(session)
        return event_id


def _wire_payload(session: AsyncSession, topic: str, data: BaseModel | Mapping[str, Any]) -> Any:
    """The payload as JSON-ready data, once the topic, its model and its publisher check."""
    if isinstance(topic, Topic):
        publisher = service_of(session)
        if publisher != topic.owner:
            raise ForeignTopicError(
                f"{publisher or 'a session of no service'} published {topic.name}, "
                f"which {topic.owner} owns"
            )
        if type(data) is not topic.model:
            raise TypeError(
                f"{topic.name} carries {topic.model.__name__}, not {type(data).__name__}"
            )
    elif topic in TOPICS:
        raise TypeError(f"publish {topic!r} as its Topic (kit/contracts/events.py)")
    return data.model_dump(mode="json") if isinstance(data, BaseModel) else data


_MAX_FAILURE_STREAK = 2  # this many failures in a row: the broker is down, end the round


class OutboxRelay:
    """Publishes committed outbox rows in created order, then marks them published (each
    round's rows with one UPDATE; with a pub/sub of `atomic_batches`, published at once).

    On PostgreSQL each round claims its batch with `FOR UPDATE SKIP LOCKED`, so replicas
    share the work without publishing the same rows at once, and marks it in the same
    transaction. On SQLite (one process per file) relays on a file take turns and mark
    lazily: what they published is remembered in memory and left out of later rounds, and
    the marks are written together once the oldest is `mark_delay_s` old (or a batch has
    gathered, a publish failed, or the relay stops), so a round costs no write transaction
    of the service's. A failed row is retried after a per-row backoff while later rows go
    on; when a round publishes nothing but failures, the relay backs off.
    """

    def __init__(
        self,
        db: Database,
        pubsub: PubSub,
        *,
        source: str,
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
        max_backoff_s: float = 30.0,
        publish_timeout_s: float = 10.0,
        retention: timedelta = timedelta(days=7),
        inbox_retention: timedelta | None = timedelta(days=30),
        purge_interval_s: float = 3600.0,
        mark_delay_s: float = 1.0,
    ) -> None:
        self.db, self.pubsub, self.source = db, pubsub, source
        self.batch_size, self.poll_interval_s = batch_size, poll_interval_s
        self.max_backoff_s, self.publish_timeout_s = max_backoff_s, publish_timeout_s
        self.retention, self.inbox_retention = retention, inbox_retention
        self.purge_interval_s, self.mark_delay_s = purge_interval_s, mark_delay_s
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retry_at: dict[str, float] = {}  # event id -> monotonic time it may be tried again
        self._next_purge = 0.0
        # SQLite: shared with the other relays on the file (see _SqliteFileMarks)
        self._marks = _sqlite_marks(db) if db.is_sqlite else None

    def notify(self) -> None:
        """Wake the relay now (events were just committed) instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stop.clear()
        _RELAYS.setdefault(self.db.engine.sync_engine, set()).add(self)
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.db.service}")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Publish what is pending (at most `timeout_s`), then stop."""
        if self._task is None:
            return
        _RELAYS.get(self.db.engine.sync_engine, set()).discard(self)
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, timeout_s)
        except TimeoutError:
            log.warning("outbox.relay.stop_timeout", service=self.db.service, timeout_s=timeout_s)
        finally:
            self._task = None

    async def _run(self) -> None:
        failed_rounds = 0
        while True:
            self._wake.clear()  # before the round: a notify during it is not lost
            stopping = self._stop.is_set()
            try:
                seen, published, failed = await self._round(stopping=stopping)
            except Exception:
                log.exception("outbox.relay.round_failed", service=self.db.service)
                seen, published, failed = 0, 0, 1
            failed_rounds = failed_rounds + 1 if failed and not published else 0
            if stopping:
                if failed_rounds or seen < self.batch_size:
                    return  # drained, or cannot drain now: the rows wait for the next start
                continue
            await self._maybe_purge()
            if failed_rounds:  # back off, deaf to notify, so a down broker is not hammered
                delay = min(self.max_backoff_s, self.poll_interval_s * 2**failed_rounds)
                await _wait(self._stop, delay)
            elif seen < self.batch_size:
                await _wait(self._wake, min(self.poll_interval_s, self._marks_due_in()))
            # else: a full batch, more may be pending: go again at once

    def _marks_due_in(self) -> float:
        """Seconds until the lazy marks are due (infinite: none are waiting)."""
        if self._marks is None:
            return float("inf")
        return self._marks.due_in(self.mark_delay_s)

    def _pending(self, skip: set[str]) -> sa.Select[Any]:
        """The next batch of unpublished rows, except the ones in `skip` and those waiting
        for their retry."""
        now = time.monotonic()
        self._retry_at = {k: at for k, at in self._retry_at.items() if at > now}
        query = sa.select(OUTBOX).where(OUTBOX.c.published_at.is_(None))
        if skip or self._retry_at:
            query = query.where(OUTBOX.c.id.not_in([*skip, *self._retry_at]))
        return query.order_by(OUTBOX.c.created_at, OUTBOX.c.id).limit(self.batch_size)

    async def _round(self, *, stopping: bool = False) -> tuple[int, int, int]:
        """One batch: returns (rows claimed, published, failed)."""
        if self._marks is not None:
            return await self._sqlite_round(self._marks, stopping)
        # SKIP LOCKED: concurrent relays each take their own rows until they commit
        async with self.db.session() as session, session.begin():
            query = self._pending(set()).with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            published, failures = await self._publish(rows)
            await self._settle(session, published, failures)
        return len(rows), len(published), len(failures)

    async def _sqlite_round(self, marks: _SqliteFileMarks, stopping: bool) -> tuple[int, int, int]:
        # SQLite has one writer: holding its lock while publishing would stall every write
        # of this service for as long as the broker takes. A SQLite file is used by one
        # process (the embedded platform), whose relays on it take turns: read, publish,
        # and mark later, many rounds' rows in one short transaction.
        async with marks.lock:
            async with self.db.reader() as session:
                rows = (await session.execute(self._pending(marks.unmarked))).all()
            published, failures = await self._publish(rows)
            marks.published(published)
            if failures or stopping or marks.due(self.mark_delay_s, self.batch_size):
                await marks.write(self, failures)
        return len(rows), len(published), len(failures)

    async def _publish(
        self, rows: Sequence[Row[Any]]
    ) -> tuple[list[str], list[tuple[Row[Any], Exception]]]:
        if self.pubsub.atomic_batches and len(rows) > 1:
            # The round's rows in one go (one pub/sub transaction, not one per row); if that
            # fails none was published, and one by one below finds the row that fails.
            try:
                async with asyncio.timeout(self.publish_timeout_s):
                    await self.pubsub.publish_batch([self._event(row) for row in rows])
            except Exception as exc:
                log.info("outbox.batch_failed", rows=len(rows), error=f"{type(exc).__name__}")
            else:
                return [row.id for row in rows], []
        published: list[str] = []
        failures: list[tuple[Row[Any], Exception]] = []
        streak = 0
        for row in rows:
            try:
                async with asyncio.timeout(self.publish_timeout_s):
                    await self.pubsub.publish(self._event(row))
            except Exception as exc:
                failures.append((row, exc))
                streak += 1
                if streak >= _MAX_FAILURE_STREAK:
                    break
                continue
            streak = 0
            published.append(row.id)
        return published, failures

    async def _settle(
        self,
        session: AsyncSession,
        published: list[str],
        failures: list[tuple[Row[Any], Exception]],
    ) -> None:
        for row, exc in failures:
            await self._record_failure(session, row, exc)
        if published:
            mark = sa.update(OUTBOX).where(OUTBOX.c.id.in_(published))
            await session.execute(mark.values(published_at=datetime.now(UTC)))

    def _event(self, row: Row[Any]) -> CloudEvent:
        return CloudEvent(
            id=row.id,
            topic=row.topic,
            data=orjson.loads(row.payload),
            shop=row.shop,
            source=self.source,
            time=row.created_at.isoformat(),
            traceparent=row.traceparent,
        )

    async def _record_failure(self, session: AsyncSession, row: Row[Any], exc: Exception) -> None:
        attempts = row.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:2000]
        bump = sa.update(OUTBOX).where(OUTBOX.c.id == row.id)
        await session.execute(bump.values(attempts=OUTBOX.c.attempts + 1, last_error=error))
        delay = min(self.max_backoff_s, self.poll_interval_s * 2**attempts)
        self._retry_at[row.id] = time.monotonic() + delay
        log.warning("outbox.publish_failed", event_id=row.id, attempts=attempts, error=error)

    async def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.purge_interval_s
        try:
            purged = await self.purge(self.retention)
            if self.inbox_retention is not None:
                purged += await Inbox.purge(self.db, self.inbox_retention)
        except Exception:
            log.exception("outbox.purge_failed", service=self.db.service)
        else:
            if purged:
                log.info("outbox.purged", service=self.db.service, rows=purged)

    async def purge(self, older_than: timedelta) -> int:
        """Delete outbox rows published more than `older_than` ago; returns how many."""
        return await delete_before(self.db, OUTBOX.c.published_at, older_than)


class _SqliteFileMarks:
    """The relays of one SQLite file in this process: their turn (`lock`) and the rows
    they published and have not marked yet, which every relay on the file leaves out.

    Marking costs a write transaction of the service's; lazily, one marks many rounds.
    Until then the rows live only here: a crash loses the memory, and the next relay
    publishes them again (consumers' inboxes absorb the duplicates).
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.unmarked: set[str] = set()
        self._oldest = 0.0  # monotonic time the oldest unmarked row was published

    def published(self, ids: Sequence[str]) -> None:
        if ids and not self.unmarked:
            self._oldest = time.monotonic()
        self.unmarked.update(ids)

    def due_in(self, delay_s: float) -> float:
        if not self.unmarked:
            return float("inf")
        return max(0.0, self._oldest + delay_s - time.monotonic())

    def due(self, delay_s: float, batch_size: int) -> bool:
        return len(self.unmarked) >= batch_size or (
            bool(self.unmarked) and self.due_in(delay_s) == 0.0
        )

    async def write(self, relay: OutboxRelay, failures: list[tuple[Row[Any], Exception]]) -> None:
        """Mark every unmarked row, and record `failures`, in one transaction; if it fails,
        the rows stay unmarked here and go with the next attempt."""
        marking = list(self.unmarked)
        async with relay.db.session() as session, session.begin():
            await relay._settle(session, marking, failures)
        self.unmarked.difference_update(marking)
        self._oldest = time.monotonic()


# Per SQLite file, keyed by its URL (several Database handles may open one file); alive
# while a relay on the file is.
_SQLITE_FILES: weakref.WeakValueDictionary[str, _SqliteFileMarks] = weakref.WeakValueDictionary()


def _sqlite_marks(db: Database) -> _SqliteFileMarks:
    key = db.engine.url.render_as_string(hide_password=False)
    marks = _SQLITE_FILES.get(key)
    if marks is None:
        marks = _SQLITE_FILES[key] = _SqliteFileMarks()
    return marks


async def _wait(flag: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await flag.wait()
