"""The transactional outbox, its relay and the inbox, on SQLite and on real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, Delivery, PubSub, Subscription
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import (
    INBOX,
    OUTBOX,
    Inbox,
    Outbox,
    OutboxRelay,
    PermanentEventError,
    idempotent_handler,
)

MIGRATIONS = Path(__file__).parent / "outbox_migrations"

COUNTERS = Table(
    "counters",
    MetaData(),
    Column("name", String(100), primary_key=True),
    Column("value", Integer, nullable=False),
)


class OrderPlaced(BaseModel):
    order_id: str
    total_cents: int
    placed_at: datetime


class FakePubSub(PubSub):
    """Records what is published; can be told to fail, be slow, or hang after publishing."""

    def __init__(self) -> None:
        self.published: list[CloudEvent] = []
        self.calls = 0
        self.down = False
        self.fail_times: dict[str, int] = {}  # event id -> failures still to inject
        self.delay_s = 0.0
        self.hang_after_publish = False

    async def publish(self, event: CloudEvent) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("broker unreachable")
        if self.fail_times.get(event.id, 0) > 0:
            self.fail_times[event.id] -= 1
            raise RuntimeError(f"cannot publish {event.id}")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.published.append(event)
        if self.hang_after_publish:
            await asyncio.Event().wait()  # the process "dies" here: before the mark

    def subscribe(self, subscription: Subscription) -> None:
        raise NotImplementedError

    def ids(self) -> list[str]:
        return [e.id for e in self.published]


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def all_marked_published(db: Database, timeout_s: float = 5.0) -> None:
    """Every row marked published (a mark commits just after its publish returns)."""
    deadline = time.monotonic() + timeout_s
    while not all(row.published_at is not None for row in (await outbox_rows(db)).values()):
        if time.monotonic() > deadline:
            raise AssertionError("rows published but not marked in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def make_db(
    database_url_factory: Callable[[str], Awaitable[str]],
) -> AsyncIterator[Callable[[str | None], Awaitable[Database]]]:
    """`await make_db()` → a migrated database; `await make_db(url)` → another handle on it."""
    opened: list[Database] = []

    async def make(url: str | None = None) -> Database:
        db = Database(
            url or await database_url_factory("outbox"),
            service="outbox-test",
            migrations=MIGRATIONS,
        )
        opened.append(db)
        if url is None:
            await db.migrate()
        return db

    yield make
    for db in opened:
        await db.dispose()


@pytest.fixture
async def db(make_db: Callable[[str | None], Awaitable[Database]]) -> Database:
    return await make_db(None)


@pytest.fixture
async def relays() -> AsyncIterator[list[OutboxRelay]]:
    """Relays made by a test are stopped at its end, whatever happened."""
    made: list[OutboxRelay] = []
    yield made
    for relay in made:
        await relay.stop(timeout_s=1.0)


def relay_for(
    relays: list[OutboxRelay], db: Database, pubsub: PubSub, **kwargs: Any
) -> OutboxRelay:
    kwargs = {"poll_interval_s": 0.02, "max_backoff_s": 0.1} | kwargs
    relay = OutboxRelay(db, pubsub, source="orders", **kwargs)
    relays.append(relay)
    return relay


async def add_events(db: Database, count: int, topic: str = "orders.placed") -> list[str]:
    async with db.session() as session, session.begin():
        return [await Outbox.add(session, topic, {"n": i}, shop="acme") for i in range(count)]


async def outbox_rows(db: Database) -> dict[str, Any]:
    async with db.reader() as session:
        return {row.id: row for row in (await session.execute(select(OUTBOX))).all()}


async def counter(db: Database, name: str = "c") -> int | None:
    async with db.reader() as session:
        return await session.scalar(select(COUNTERS.c.value).where(COUNTERS.c.name == name))


async def increment(session: AsyncSession, name: str = "c") -> None:
    changed = await session.execute(
        update(COUNTERS).where(COUNTERS.c.name == name).values(value=COUNTERS.c.value + 1)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        await session.execute(COUNTERS.insert().values(name=name, value=1))


# ----------------------------------------------------------------------------- outbox + relay


async def test_committed_event_is_published_once_with_its_fields(
    db: Database, relays: list[OutboxRelay]
) -> None:
    pubsub = FakePubSub()
    # A long poll: only the commit's notify can make this fast.
    relay = relay_for(relays, db, pubsub, poll_interval_s=30.0)
    await relay.start()
    await asyncio.sleep(0.05)  # the relay's first (empty) round is done; it now waits
    placed = OrderPlaced(
        order_id="o-1", total_cents=1250, placed_at=datetime(2025, 1, 2, tzinfo=UTC)
    )
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with db.session() as session, session.begin():
        await increment(session)
        event_id = await Outbox.add(
            session, "orders.placed", placed, shop="acme", traceparent=trace
        )
    await eventually(lambda: len(pubsub.published) == 1, timeout_s=2.0)

    (event,) = pubsub.published
    assert (event.id, event.topic, event.shop, event.source) == (
        event_id,
        "orders.placed",
        "acme",
        "orders",
    )
    assert event.data == {
        "order_id": "o-1",
        "total_cents": 1250,
        "placed_at": "2025-01-02T00:00:00Z",
    }
    assert event.traceparent == trace
    assert datetime.fromisoformat(event.time).tzinfo is not None
    await all_marked_published(db)
    row = (await outbox_rows(db))[event_id]
    assert row.published_at is not None and row.published_at.tzinfo is not None
    assert row.created_at <= row.published_at and row.attempts == 0
    assert await counter(db) == 1

    relay.notify()
    await asyncio.sleep(0.1)
    await relay.stop()
    assert pubsub.ids() == [event_id]


async def test_rolled_back_event_is_never_published(
    db: Database, relays: list[OutboxRelay]
) -> None:
    pubsub = FakePubSub()
    await relay_for(relays, db, pubsub).start()
    with pytest.raises(RuntimeError):
        async with db.session() as session, session.begin():
            await increment(session)
            lost = await Outbox.add(session, "orders.placed", {"n": 0}, shop="acme")
            raise RuntimeError("the domain write failed")
    (marker,) = await add_events(db, 1)
    await eventually(lambda: marker in pubsub.ids())
    await asyncio.sleep(0.1)
    assert lost not in pubsub.ids()
    assert lost not in await outbox_rows(db)
    assert await counter(db) is None


async def test_events_are_published_in_created_order_in_batches(
    db: Database, relays: list[OutboxRelay]
) -> None:
    ids = await add_events(db, 25)
    ids += await add_events(db, 25)
    pubsub = FakePubSub()
    await relay_for(relays, db, pubsub, batch_size=7).start()
    await eventually(lambda: len(pubsub.published) == 50)
    assert pubsub.ids() == ids


async def test_crash_between_publish_and_mark_republishes_never_loses(
    db: Database, relays: list[OutboxRelay]
) -> None:
    ids = await add_events(db, 3)
    crashing = FakePubSub()
    crashing.hang_after_publish = True
    relay = relay_for(relays, db, crashing)
    await relay.start()
    await eventually(lambda: len(crashing.published) == 1)
    await relay.stop(timeout_s=0.1)  # cannot drain: cancelled mid-round, like a crash
    assert all(row.published_at is None for row in (await outbox_rows(db)).values())

    pubsub = FakePubSub()
    await relay_for(relays, db, pubsub).start()
    await eventually(lambda: len(pubsub.published) == 3)
    assert crashing.ids() == ids[:1]
    assert pubsub.ids() == ids  # the first one a second time (at-least-once), none lost
    await all_marked_published(db)


async def test_failing_publish_is_retried_and_later_rows_still_go(
    db: Database, relays: list[OutboxRelay]
) -> None:
    ids = await add_events(db, 5)
    pubsub = FakePubSub()
    pubsub.fail_times[ids[1]] = 2
    await relay_for(relays, db, pubsub).start()
    await eventually(lambda: len(pubsub.published) == 5)

    assert pubsub.ids() == [ids[0], ids[2], ids[3], ids[4], ids[1]]
    await all_marked_published(db)
    row = (await outbox_rows(db))[ids[1]]
    assert row.attempts == 2 and "cannot publish" in row.last_error


async def test_broker_down_backs_off_and_everything_goes_when_it_returns(
    db: Database, relays: list[OutboxRelay]
) -> None:
    ids = await add_events(db, 20)
    pubsub = FakePubSub()
    pubsub.down = True
    relay = relay_for(relays, db, pubsub, poll_interval_s=0.02, max_backoff_s=0.2)
    await relay.start()
    for _ in range(20):  # commits keep notifying: the backing-off relay must not hammer
        relay.notify()
        await asyncio.sleep(0.025)
    # ~0.5 s: a spinning relay would make hundreds of calls; backing off, about a dozen.
    assert 0 < pubsub.calls <= 20
    # Each failed call is recorded just after it fails: look between two back-off waits.
    recorded = 0
    for _ in range(200):
        recorded = sum(row.attempts for row in (await outbox_rows(db)).values())
        if recorded == pubsub.calls:
            break
        await asyncio.sleep(0.01)
    assert recorded == pubsub.calls

    pubsub.down = False
    await eventually(lambda: len(pubsub.published) == 20)
    assert sorted(pubsub.ids()) == sorted(ids)


async def test_two_relays_publish_each_event_once(
    backend: str,
    db: Database,
    make_db: Callable[[str | None], Awaitable[Database]],
    relays: list[OutboxRelay],
) -> None:
    ids = await add_events(db, 200)
    other_db = await make_db(db.engine.url.render_as_string(hide_password=False))
    first, second = FakePubSub(), FakePubSub()
    first.delay_s = second.delay_s = 0.001
    a = relay_for(relays, db, first, batch_size=20)
    b = relay_for(relays, other_db, second, batch_size=20)
    await asyncio.gather(a.start(), b.start())
    await eventually(lambda: len(first.published) + len(second.published) >= 200, timeout_s=20)
    await asyncio.sleep(0.2)  # a duplicate would show up by now

    counts = Counter(first.ids() + second.ids())
    assert set(counts) == set(ids) and max(counts.values()) == 1
    if backend == "postgresql":  # SKIP LOCKED lets both work at once
        assert first.published and second.published
    await all_marked_published(db)


async def test_stop_drains_pending_events(db: Database, relays: list[OutboxRelay]) -> None:
    pubsub = FakePubSub()
    relay = relay_for(relays, db, pubsub, poll_interval_s=30.0, batch_size=10)
    await relay.start()
    await asyncio.sleep(0.05)
    async with db.session() as session:  # no notify: a raw insert the relay cannot hear of
        await session.execute(
            OUTBOX.insert(),
            [
                {
                    "id": f"e{i}",
                    "topic": "t",
                    "shop": "acme",
                    "payload": "{}",
                    "attempts": 0,
                    "created_at": datetime.now(UTC) + timedelta(microseconds=i),
                }
                for i in range(25)
            ],
        )
        await session.commit()
    await relay.stop()
    assert pubsub.ids() == [f"e{i}" for i in range(25)]


async def test_purge_deletes_only_old_published_rows(db: Database) -> None:
    old, recent, pending_old = await add_events(db, 3)
    now = datetime.now(UTC)
    async with db.session() as session, session.begin():
        for event_id, created, published in [
            (old, now - timedelta(days=9), now - timedelta(days=8)),
            (recent, now - timedelta(days=2), now - timedelta(days=1)),
            (pending_old, now - timedelta(days=30), None),
        ]:
            await session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == event_id)
                .values(created_at=created, published_at=published)
            )
    relay = OutboxRelay(db, FakePubSub(), source="orders")
    assert await relay.purge(timedelta(days=7)) == 1
    assert set(await outbox_rows(db)) == {recent, pending_old}


async def test_migration_helpers_create_and_drop_the_tables(db: Database) -> None:
    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    def downgrade(conn: Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")

    async with db.engine.connect() as conn:
        assert {"outbox", "inbox", "counters"} <= await conn.run_sync(tables)
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("outbox"))
        assert [ix["column_names"] for ix in indexes] == [["published_at", "created_at"]]
        await conn.run_sync(downgrade)
        await conn.commit()
        assert not {"outbox", "inbox", "counters"} & await conn.run_sync(tables)


# ----------------------------------------------------------------------------- lazy marks


async def unmarked(db: Database) -> set[str]:
    return {id_ for id_, row in (await outbox_rows(db)).items() if row.published_at is None}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL marks in its round
async def test_marks_are_written_later_with_no_further_events(
    db: Database, relays: list[OutboxRelay]
) -> None:
    pubsub = FakePubSub()
    await relay_for(relays, db, pubsub, poll_interval_s=30.0, mark_delay_s=0.2).start()
    ids = await add_events(db, 3)
    await eventually(lambda: len(pubsub.published) == 3)
    await all_marked_published(db)  # nothing woke the relay but its own mark timer
    assert pubsub.ids() == ids


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL marks in its round
async def test_published_rows_awaiting_their_mark_are_not_published_again(
    db: Database, relays: list[OutboxRelay]
) -> None:
    pubsub = FakePubSub()
    relay = relay_for(relays, db, pubsub, mark_delay_s=60.0)
    await relay.start()
    ids: list[str] = []

    async def commit_and_wait() -> None:
        ids.extend(await add_events(db, 2))
        await eventually(lambda: len(pubsub.published) == len(ids))

    for _ in range(3):  # three rounds, each woken by its commit, none writing marks
        await commit_and_wait()
    await asyncio.sleep(0.1)  # polls come and go
    assert pubsub.ids() == ids
    assert await unmarked(db) == set(ids)
    await relay.stop()  # stopping writes what is owed
    assert await unmarked(db) == set()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL marks in its round
async def test_a_full_batch_of_unmarked_rows_is_marked_at_once(
    db: Database, relays: list[OutboxRelay]
) -> None:
    pubsub = FakePubSub()
    await relay_for(relays, db, pubsub, batch_size=5, mark_delay_s=60.0).start()
    ids = await add_events(db, 5)
    await eventually(lambda: len(pubsub.published) == 5)
    await all_marked_published(db)
    assert pubsub.ids() == ids


# ----------------------------------------------------------------------------- inbox


def event(event_id: str = "ev-1") -> CloudEvent:
    return CloudEvent(id=event_id, topic="orders.placed", data={"n": 1}, shop="acme")


async def inbox_ids(db: Database) -> list[tuple[str, str]]:
    async with db.reader() as session:
        return [
            tuple(r)
            for r in (await session.execute(select(INBOX.c.consumer, INBOX.c.event_id))).all()
        ]


async def test_redelivered_event_takes_effect_once(db: Database) -> None:
    calls: list[str] = []

    async def apply(session: AsyncSession, ev: CloudEvent) -> None:
        calls.append(ev.id)
        await increment(session)

    handler = idempotent_handler(db, "shipping", apply)
    assert await handler(event()) is Delivery.SUCCESS
    assert await handler(event()) is Delivery.SUCCESS
    assert calls == ["ev-1"] and await counter(db) == 1
    # Another consumer of the same event has its own inbox.
    assert await idempotent_handler(db, "billing", apply)(event()) is Delivery.SUCCESS
    assert await counter(db) == 2
    assert sorted(await inbox_ids(db)) == [("billing", "ev-1"), ("shipping", "ev-1")]


async def test_concurrent_duplicate_deliveries_take_effect_once(db: Database) -> None:
    async def apply(session: AsyncSession, ev: CloudEvent) -> None:
        await increment(session)
        await asyncio.sleep(0.05)  # hold the transaction open while the twin arrives

    handlers = [idempotent_handler(db, "shipping", apply) for _ in range(4)]
    answers = await asyncio.gather(*(h(event()) for h in handlers))
    assert answers == [Delivery.SUCCESS] * 4
    assert await counter(db) == 1


async def test_handler_exception_rolls_back_effect_and_inbox_and_retries(db: Database) -> None:
    broken = True

    async def apply(session: AsyncSession, ev: CloudEvent) -> None:
        await increment(session)
        if broken:
            raise RuntimeError("downstream hiccup")

    handler = idempotent_handler(db, "shipping", apply)
    assert await handler(event()) is Delivery.RETRY
    assert await counter(db) is None and await inbox_ids(db) == []
    broken = False
    assert await handler(event()) is Delivery.SUCCESS
    assert await counter(db) == 1


async def test_permanent_error_drops(db: Database) -> None:
    async def apply(session: AsyncSession, ev: CloudEvent) -> None:
        await increment(session)
        raise PermanentEventError("unknown order")

    assert await idempotent_handler(db, "shipping", apply)(event()) is Delivery.DROP
    assert await counter(db) is None and await inbox_ids(db) == []


async def test_claim_and_purge(db: Database) -> None:
    inbox = Inbox("shipping")
    async with db.session() as session, session.begin():
        assert await inbox.claim(session, "a") is True
        assert await inbox.claim(session, "a") is False
        assert await inbox.claim(session, "b") is True
        await session.execute(
            update(INBOX)
            .where(INBOX.c.event_id == "a")
            .values(processed_at=datetime.now(UTC) - timedelta(days=40))
        )
    assert await Inbox.purge(db, timedelta(days=30)) == 1
    assert await inbox_ids(db) == [("shipping", "b")]
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(INBOX)) == 1


# ----------------------------------------------------------------------------- end to end


async def test_relay_through_local_pubsub_into_an_idempotent_consumer(
    make_db: Callable[[str | None], Awaitable[Database]],
    relays: list[OutboxRelay],
    tmp_path: Path,
) -> None:
    from shopfleet.kit.blocks.local import LocalPubSub

    orders, shipping = await make_db(None), await make_db(None)
    pubsub = await LocalPubSub.open(tmp_path / "pubsub.db", retry_base_s=0.02, poll_s=0.05)
    seen: list[tuple[str, Delivery]] = []

    async def ship(session: AsyncSession, ev: CloudEvent) -> None:
        assert ev.shop == "acme" and ev.data == {"order_id": "o-9"}
        await increment(session, "shipments")

    apply = idempotent_handler(shipping, "shipping", ship)

    async def handler(ev: CloudEvent) -> Delivery:
        answer = await apply(ev)
        seen.append((ev.id, answer))
        return answer

    pubsub.subscribe(Subscription(topic="orders.placed", consumer="shipping", handler=handler))
    await pubsub.start()
    try:
        await relay_for(relays, orders, pubsub).start()
        async with orders.session() as session, session.begin():
            await increment(session, "orders")
            event_id = await Outbox.add(session, "orders.placed", {"order_id": "o-9"}, shop="acme")
        await eventually(lambda: len(seen) == 1)
        # What a relay crash between publish and mark would do: the same event again.
        await pubsub.publish(
            CloudEvent(id=event_id, topic="orders.placed", data={"order_id": "o-9"}, shop="acme")
        )
        await eventually(lambda: len(seen) == 2)
    finally:
        await relays[0].stop()
        await pubsub.stop()

    assert seen == [(event_id, Delivery.SUCCESS)] * 2
    assert await counter(shipping, "shipments") == 1
    assert await counter(orders, "orders") == 1
