"""`LocalPubSub`: durable, at-least-once pub/sub on a SQLite file.

Like a RabbitMQ exchange with durable queues: each declared (topic, consumer) is a queue
recorded in the file, and `publish` inserts one delivery row per queue of the topic in
one transaction (no queue: the event is dropped, as an exchange with no binding does).
A dispatcher task claims due rows and runs handlers, at most `max_concurrency` at once
per subscription. SUCCESS deletes the row; RETRY or an exception reschedules it with
exponential back-off; DROP, or the last of `max_attempts`, dead-letters it.

Write transactions are few: a publish inserts the rows of this instance's subscriptions
that have a free slot already claimed, and hands them to their handlers once it commits
(no claim of their own); answers are recorded by the next write transaction on the file
(a publish, or the dispatcher's claim of due rows). Successes may wait for it up to
`settle_delay_s` (the row stays claimed meanwhile, so a crash delivers it again; consumers
de-duplicate by their inbox); other answers are recorded at once.

Dead-lettering matches Dapr: the original CloudEvent (same id, shop, data and `topic`
naming the topic it failed on) is published unchanged to the subscription's dead-letter
topic, and the failure is recorded with its consumer, attempts, reason and last error in
`dead_letters()`. Rows claimed when a process died are delivered again by the next
instance's `start()`; one live instance per (file, consumer) is assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import aiosqlite
import orjson
import structlog

from shopfleet.kit.blocks.local.sqlite import SqliteFile
from shopfleet.kit.blocks.ports import CloudEvent, Delivery, PubSub, Subscription

log = structlog.get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    topic TEXT NOT NULL, consumer TEXT NOT NULL, PRIMARY KEY (topic, consumer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT NOT NULL,
    consumer   TEXT NOT NULL,
    event      BLOB NOT NULL,              -- CloudEvent JSON
    attempts   INTEGER NOT NULL DEFAULT 0, -- failed deliveries so far
    due_at     REAL NOT NULL,              -- unix seconds
    claimed    INTEGER NOT NULL DEFAULT 0, -- 1 while a handler has it
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (claimed, due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, consumer TEXT NOT NULL,
    event BLOB NOT NULL, attempts INTEGER NOT NULL, reason TEXT NOT NULL, error TEXT,
    dead_at REAL NOT NULL
);
"""

QueueKey = tuple[str, str]  # (topic, consumer)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a consumer gave up on: for operators, and for tests."""

    event: CloudEvent  # as published; `event.topic` is the topic it failed on
    topic: str
    consumer: str
    attempts: int
    reason: str  # "drop" (the handler answered DROP) or "max_attempts"
    error: str | None  # the last failure: an exception, or the handler's answer
    dead_at: datetime


@dataclass(frozen=True, slots=True)
class Tuning:
    max_concurrency: int = 8  # handlers running at once, per subscription
    retry_base_s: float = 0.5  # first back-off; doubles per failed attempt
    retry_max_s: float = 30.0
    poll_s: float = 1.0  # fallback for rows another process queued
    settle_delay_s: float = 0.5  # longest a success waits to be recorded with other writes

    def backoff(self, attempts: int) -> float:
        return min(self.retry_max_s, self.retry_base_s * 2.0 ** (attempts - 1))


@dataclass(frozen=True, slots=True)
class _Claim:
    """A delivery row this instance has claimed and is handing to `sub`."""

    id: int
    sub: Subscription
    raw: bytes  # the CloudEvent JSON
    failed: int  # failed attempts before this one


class LocalPubSub(PubSub):
    """`LocalPubSub(path)` (the file opens on first use) or `await LocalPubSub.open(path)`;
    then `subscribe`, `start`, and `stop` at the end.

    Several instances may share one file (say one per service of the embedded platform):
    a publish wakes the instances of this process at once; other processes poll.
    """

    _peers: ClassVar[dict[str, weakref.WeakSet[LocalPubSub]]] = {}
    atomic_batches: ClassVar[bool] = True  # one transaction

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_concurrency: int = 8,
        retry_base_s: float = 0.5,
        retry_max_s: float = 30.0,
        poll_s: float = 1.0,
        settle_delay_s: float = 0.5,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.path = Path(path)
        self._tuning = Tuning(max_concurrency, retry_base_s, retry_max_s, poll_s, settle_delay_s)
        self._db: SqliteFile | None = None  # opened on first use (or by `open`)
        self._opening = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subs: dict[QueueKey, Subscription] = {}
        self._declared: set[QueueKey] = set()
        self._inflight: dict[QueueKey, set[asyncio.Task[None]]] = {}
        self._reserved: dict[QueueKey, int] = {}  # slots of rows being claimed, not yet running
        self._acks: list[tuple[_Claim, Delivery, str]] = []  # answered, not yet recorded
        self._acks_due = float("inf")  # wall time by which the answers must be recorded
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._handler_context = contextvars.Context()
        self._stopped = False
        self._file_key = str(self.path.resolve())
        self._peers.setdefault(self._file_key, weakref.WeakSet()).add(self)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        max_concurrency: int = 8,
        retry_base_s: float = 0.5,
        retry_max_s: float = 30.0,
        poll_s: float = 1.0,
        settle_delay_s: float = 0.5,
    ) -> LocalPubSub:
        """A LocalPubSub with its file already open (so a bad path fails here)."""
        pubsub = cls(
            path,
            max_concurrency=max_concurrency,
            retry_base_s=retry_base_s,
            retry_max_s=retry_max_s,
            poll_s=poll_s,
            settle_delay_s=settle_delay_s,
        )
        await pubsub._file()
        return pubsub

    def subscribe(self, subscription: Subscription) -> None:
        if self._dispatcher is not None:
            raise RuntimeError("declare subscriptions before start()")
        key = (subscription.topic, subscription.consumer)
        if key in self._subs:
            raise ValueError(f"{subscription.consumer!r} already subscribes to {key[0]!r}")
        self._subs[key] = subscription

    async def publish(self, event: CloudEvent) -> None:
        await self.publish_batch([event])

    async def publish_batch(self, events: Sequence[CloudEvent]) -> None:
        """All of `events` in one transaction (all or none), queued in their order; rows
        for this instance's subscriptions with a free slot go straight to their handlers."""
        if not all(event.topic for event in events):
            raise ValueError("an event needs a topic")
        if not events:
            return
        file = await self._file()
        takers = self._hand_off_to(events)  # reserves the slots: nothing else may take them
        acks, self._acks = self._acks, []
        claims: list[_Claim] = []
        try:
            async with file.transaction() as conn:
                await self._declare(conn)
                dead_lettered = [await self._settle(conn, *ack) for ack in acks]
                now = time.time()
                waiting = 0  # rows no handler was given
                for event, consumers in zip(events, takers, strict=True):
                    raw = event.to_json()
                    queued, taken = await _route(conn, event.topic, raw, now, consumers)
                    waiting += queued - len(taken)
                    if not queued:
                        log.debug("pubsub.unrouted", topic=event.topic, event_id=event.id)
                    claims += [
                        _Claim(id_, self._subs[(event.topic, c)], raw, 0) for id_, c in taken
                    ]
        except BaseException:
            self._acks[:0] = acks  # not recorded: settled with the next write
            raise
        finally:
            self._release(takers, events)
        self._acks_due = float("inf") if not self._acks else self._acks_due
        for claim in claims:
            self._spawn(claim)
        if waiting or any(dead_lettered):
            self._wake_peers()

    def _hand_off_to(self, events: Sequence[CloudEvent]) -> list[list[str]]:
        """Per event, the consumers of this instance it goes to at once (their slots
        reserved): only while the dispatcher runs, on its loop."""
        takers: list[list[str]] = [[] for _ in events]
        if self._dispatcher is None or self._stopped or self._loop is not _running_loop():
            return takers
        free = self._free_slots()
        for event, consumers in zip(events, takers, strict=True):
            for topic, consumer in free:
                if topic == event.topic and free[(topic, consumer)] > 0:
                    free[(topic, consumer)] -= 1
                    consumers.append(consumer)
                    self._reserve((topic, consumer), 1)
        return takers

    def _release(self, takers: list[list[str]], events: Sequence[CloudEvent]) -> None:
        for event, consumers in zip(events, takers, strict=True):
            for consumer in consumers:
                self._reserve((event.topic, consumer), -1)

    def _reserve(self, key: QueueKey, slots: int) -> None:
        self._reserved[key] = self._reserved.get(key, 0) + slots

    def _free_slots(self) -> dict[QueueKey, int]:
        """Per subscription, how many more rows it may run now (none listed: no slot)."""
        free = {
            key: self._tuning.max_concurrency
            - len(self._inflight.get(key, ()))
            - self._reserved.get(key, 0)
            for key in self._subs
        }
        return {key: slots for key, slots in free.items() if slots > 0}

    async def start(self) -> None:
        if self._dispatcher is not None:
            return
        async with (await self._file()).transaction() as conn:
            await self._declare(conn)
            # Still claimed: the process that claimed it died before the handler answered.
            await conn.executemany(
                "UPDATE deliveries SET claimed = 0 "
                "WHERE topic = ? AND consumer = ? AND claimed = 1",
                list(self._subs),
            )
        # Handlers run in the context start() was called in, whoever's publish hands them
        # their event (a request's context must not leak into them).
        self._handler_context = contextvars.copy_context()
        self._dispatcher = asyncio.create_task(self._run(), name="local-pubsub-dispatcher")

    async def stop(self, *, grace_s: float | None = None) -> None:
        """Stop delivering and close the file, once in-flight handlers finish (or, after
        `grace_s`, are cancelled: their events are delivered again on the next start)."""
        if self._stopped:
            return
        self._stopped = True
        self._peers.get(self._file_key, weakref.WeakSet()).discard(self)
        self._wake.set()
        if self._dispatcher is not None:
            await self._dispatcher
        tasks = {task for tasks in self._inflight.values() for task in tasks}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._settle_answered()
        if self._db is not None:
            await self._db.close()

    async def close(self) -> None:
        await self.stop()

    async def dead_letters(self) -> list[DeadLetter]:
        rows = await (await self._file()).fetchall(
            "SELECT event, topic, consumer, attempts, reason, error, dead_at "
            "FROM dead_letters ORDER BY id"
        )
        return [
            DeadLetter(
                CloudEvent.from_json(event),
                topic,
                consumer,
                attempts,
                reason,
                error,
                datetime.fromtimestamp(dead_at, UTC),
            )
            for event, topic, consumer, attempts, reason, error, dead_at in rows
        ]

    # ------------------------------------------------------------------------- dispatch

    async def _file(self) -> SqliteFile:
        if self._stopped:
            raise RuntimeError("this LocalPubSub was stopped; open a new one")
        async with self._opening:
            if self._db is None:
                self._db = await SqliteFile.open(self.path, SCHEMA)
                self._loop = asyncio.get_running_loop()
        return self._db

    async def _declare(self, conn: aiosqlite.Connection) -> None:
        new = self._subs.keys() - self._declared
        if new:
            await conn.executemany("INSERT OR IGNORE INTO queues VALUES (?, ?)", sorted(new))
            self._declared |= new

    def _wake_peers(self) -> None:
        """Deliver new rows now, not at the next poll, in every instance on this file."""
        for peer in list(self._peers.get(self._file_key, ())):
            if peer._loop is None or peer._loop is asyncio.get_running_loop():
                peer._wake.set()
            else:
                with contextlib.suppress(RuntimeError):  # that loop has closed
                    peer._loop.call_soon_threadsafe(peer._wake.set)

    async def _run(self) -> None:
        while not self._stopped:
            self._wake.clear()
            try:
                next_due = await self._dispatch_due()
            except Exception:
                log.exception("pubsub.dispatch_failed")  # e.g. the file stayed locked; poll again
                next_due = None
            delay = self._tuning.poll_s if next_due is None else next_due - time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, min(self._tuning.poll_s, delay)))

    async def _dispatch_due(self) -> float | None:
        """Settle the answered deliveries and claim due rows for subscriptions with free
        slots, in one write transaction (none when there is nothing to write, or only
        successes that may wait); returns when it should run again."""
        free = self._free_slots()
        db, now, limit = await self._file(), time.time(), sum(free.values())
        # Only this instance claims its subscriptions' rows (one live instance per file and
        # consumer), so rows read here are still unclaimed when the claim is written.
        rows = await _due(db, free, now) if free else []
        chosen = _pick(rows, self._free_slots())  # a publish may have taken slots meanwhile
        if not chosen and not self._acks_pressing(now):
            return _earliest(await _next_due(db, self._free_slots()), self._acks_due)
        for row in chosen:
            self._reserve((row[1], row[2]), 1)
        acks, self._acks, self._acks_due = self._acks, [], float("inf")
        try:
            async with db.transaction() as conn:
                dead_lettered = [await self._settle(conn, *ack) for ack in acks]
                await conn.executemany(
                    "UPDATE deliveries SET claimed = 1 WHERE id = ? AND claimed = 0",
                    [(row[0],) for row in chosen],
                )
        except BaseException:
            self._acks[:0] = acks  # not recorded: settled with the next round
            self._acks_due = now
            raise
        finally:
            for row in chosen:
                self._reserve((row[1], row[2]), -1)
        if any(dead_lettered):
            self._wake_peers()  # the dead-letter consumer may live in another instance
        for delivery_id, topic, consumer, raw, failed in chosen:
            self._spawn(_Claim(delivery_id, self._subs[(topic, consumer)], raw, failed))
        if rows and len(rows) == limit:
            self._wake.set()  # there may be more due than we fetched
        return await _next_due(db, self._free_slots())

    def _acks_pressing(self, now: float) -> bool:
        """Whether the answers waiting must be recorded now: a retry or a dead letter
        (they change what is delivered next), or a success that waited long enough."""
        return bool(self._acks) and (
            now >= self._acks_due
            or any(outcome is not Delivery.SUCCESS for _, outcome, _ in self._acks)
        )

    def _spawn(self, claim: _Claim) -> None:
        tasks = self._inflight.setdefault((claim.sub.topic, claim.sub.consumer), set())
        task = asyncio.create_task(self._deliver(claim), context=self._handler_context.copy())
        tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            tasks.discard(finished)
            self._wake.set()  # a slot is free, and an answer waits to be recorded

        task.add_done_callback(done)

    async def _deliver(self, claim: _Claim) -> None:
        """Run the handler; its answer is recorded by the dispatcher's next transaction, with
        the others that came in meanwhile and the next claim. Until then the row stays
        claimed: if the process dies first, the next start() delivers it again."""
        outcome, error = await _call(claim.sub, CloudEvent.from_json(claim.raw), claim.failed + 1)
        if not self._acks:
            self._acks_due = time.time() + self._tuning.settle_delay_s
        self._acks.append((claim, outcome, error))

    async def _settle_answered(self) -> None:
        """Record the answers still waiting (stop(), once the handlers finished)."""
        acks, self._acks = self._acks, []
        if not acks or self._db is None:
            return
        try:
            async with self._db.transaction() as conn:
                dead_lettered = [await self._settle(conn, *ack) for ack in acks]
        except Exception:
            # The rows stay claimed, so the next start() delivers them again.
            log.exception("pubsub.settle_failed", deliveries=len(acks))
            return
        if any(dead_lettered):
            self._wake_peers()

    async def _settle(
        self, conn: aiosqlite.Connection, claim: _Claim, outcome: Delivery, error: str
    ) -> bool:
        """Record the handler's answer; returns whether the event was dead-lettered."""
        attempts = claim.failed + 1
        if outcome is Delivery.SUCCESS:
            await conn.execute("DELETE FROM deliveries WHERE id = ?", (claim.id,))
            return False
        if outcome is Delivery.DROP or attempts >= claim.sub.max_attempts:
            reason = "drop" if outcome is Delivery.DROP else "max_attempts"
            await _dead_letter(conn, claim, reason, error)
            return True
        await conn.execute(
            "UPDATE deliveries SET claimed = 0, attempts = ?, due_at = ?, last_error = ? "
            "WHERE id = ?",
            (attempts, time.time() + self._tuning.backoff(attempts), error, claim.id),
        )
        return False


Row = tuple[int, str, str, bytes, int]  # id, topic, consumer, event, failed attempts


async def _due(db: SqliteFile, free: dict[QueueKey, int], now: float) -> list[Row]:
    """Due unclaimed rows of the subscriptions in `free`, oldest first, as many as slots."""
    rows = await db.fetchall(
        "SELECT id, topic, consumer, event, attempts FROM deliveries WHERE claimed = 0 "
        f"AND due_at <= ? AND (topic, consumer) IN ({_values(free)}) "
        "ORDER BY due_at, id LIMIT ?",
        (now, *_flat(free), sum(free.values())),
    )
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def _pick(rows: list[Row], free: dict[QueueKey, int]) -> list[Row]:
    """The rows each subscription has a slot for; takes the slots from `free`."""
    chosen = []
    for row in rows:
        if free[(row[1], row[2])] > 0:
            free[(row[1], row[2])] -= 1
            chosen.append(row)
    return chosen


async def _next_due(
    source: SqliteFile | aiosqlite.Connection, free: dict[QueueKey, int]
) -> float | None:
    """When the next unclaimed row of a subscription with a free slot is due (None: none)."""
    if not free:
        return None
    sql = (
        "SELECT MIN(due_at) FROM deliveries WHERE claimed = 0 "
        f"AND (topic, consumer) IN ({_values(free)})"
    )
    if isinstance(source, SqliteFile):
        ((next_due,),) = await source.fetchall(sql, _flat(free))
    else:
        ((next_due,),) = await source.execute_fetchall(sql, _flat(free))
    return None if next_due is None else float(next_due)


async def _dead_letter(conn: aiosqlite.Connection, claim: _Claim, reason: str, error: str) -> None:
    sub, now, attempts = claim.sub, time.time(), claim.failed + 1
    await conn.execute("DELETE FROM deliveries WHERE id = ?", (claim.id,))
    await conn.execute(
        "INSERT INTO dead_letters (topic, consumer, event, attempts, reason, error, dead_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (sub.topic, sub.consumer, claim.raw, attempts, reason, error, now),
    )
    # A dead-letter consumer failing on its own topic would loop: record it only.
    if sub.dead_letter_topic and sub.dead_letter_topic != sub.topic:
        await _route(conn, sub.dead_letter_topic, claim.raw, now)
    log.warning("pubsub.dead_lettered", topic=sub.topic, consumer=sub.consumer, reason=reason)


async def _call(sub: Subscription, event: CloudEvent, attempt: int) -> tuple[Delivery, str]:
    """Run the handler; an exception or an answer that is not a Delivery counts as RETRY."""
    bound = log.bind(topic=sub.topic, consumer=sub.consumer, event_id=event.id, attempt=attempt)
    try:
        answer = await sub.handler(event)
    except Exception as exc:
        bound.exception("pubsub.handler_failed")
        return Delivery.RETRY, f"{type(exc).__name__}: {exc}"
    try:
        outcome = Delivery(answer)
    except ValueError:
        bound.error("pubsub.handler_bad_answer", answer=repr(answer))
        return Delivery.RETRY, f"handler answered {answer!r}, not a Delivery"
    return outcome, f"handler answered {outcome.value}"


async def _route(
    conn: aiosqlite.Connection, topic: str, raw: bytes, now: float, takers: Sequence[str] = ()
) -> tuple[int, list[tuple[int, str]]]:
    """Queue `raw` for every consumer of `topic`, already claimed for `takers`; returns how
    many rows were queued, and the (id, consumer) of the claimed ones."""
    if not takers:
        cursor = await conn.execute(
            "INSERT INTO deliveries (topic, consumer, event, due_at) "
            "SELECT topic, consumer, ?, ? FROM queues WHERE topic = ?",
            (raw, now, topic),
        )
        return cursor.rowcount, []
    rows = list(
        await conn.execute_fetchall(
            "INSERT INTO deliveries (topic, consumer, event, due_at, claimed) "
            "SELECT topic, consumer, ?, ?, consumer IN (SELECT value FROM json_each(?)) "
            "FROM queues WHERE topic = ? RETURNING id, consumer, claimed",
            (raw, now, orjson.dumps(list(takers)).decode(), topic),  # JSON text, not JSONB
        )
    )
    return len(rows), [(id_, consumer) for id_, consumer, claimed in rows if claimed]


def _earliest(first: float | None, second: float) -> float | None:
    """The earlier of two wall times (None and infinity: never)."""
    earliest = min(first if first is not None else float("inf"), second)
    return None if earliest == float("inf") else earliest


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _values(keys: dict[QueueKey, int]) -> str:
    return ",".join(["(?, ?)"] * len(keys))


def _flat(keys: dict[QueueKey, int]) -> tuple[str, ...]:
    return tuple(part for key in keys for part in key)
