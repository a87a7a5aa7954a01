"""The local pub/sub's few writes: a publish hands rows straight to idle handlers, and
successes are recorded with a later write. What may not change: each event is delivered
(at least once, here exactly once while nothing crashes), no subscription runs more
handlers than its slots, retries keep their pace, and a kill -9 before a success was
recorded delivers the event again, which the consumer's inbox takes once.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import sqlite3
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.blocks.ports import CloudEvent, Delivery, Subscription
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import idempotent_handler
from tests.integration.kit.test_outbox import MIGRATIONS, counter, eventually, increment
from tests.support.processes import spawn_module

from .test_pubsub_contract import Recorder, order_placed, wait_until


def queued(path: Path) -> list[tuple[str, int]]:
    """The delivery rows in the file: (consumer, claimed)."""
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT consumer, claimed FROM deliveries ORDER BY id"))


async def test_each_published_event_is_delivered_once_to_an_idle_subscriber(
    tmp_path: Path,
) -> None:
    path, handler = tmp_path / "pubsub.db", Recorder()
    pubsub = await LocalPubSub.open(path, poll_s=0.01, settle_delay_s=0.05)
    pubsub.subscribe(Subscription("orders", "shipping", handler))
    await pubsub.start()
    try:
        events = [order_placed("orders") for _ in range(10)]
        for event in events[:5]:
            await pubsub.publish(event)
            await asyncio.sleep(0.02)  # the subscriber is idle again: polls come and go
        await pubsub.publish_batch(events[5:])
        await wait_until(lambda: len(handler.events) == 10)
        await asyncio.sleep(0.1)  # a second delivery would show up by now
    finally:
        await pubsub.stop()
    assert sorted(e.id for e in handler.events) == sorted(e.id for e in events)


async def test_a_success_is_recorded_later_without_further_events(tmp_path: Path) -> None:
    path, handler = tmp_path / "pubsub.db", Recorder()
    pubsub = await LocalPubSub.open(path, poll_s=30, settle_delay_s=0.1)
    pubsub.subscribe(Subscription("orders", "shipping", handler))
    await pubsub.start()
    try:
        await pubsub.publish(order_placed("orders"))
        await wait_until(lambda: len(handler.events) == 1)
        await wait_until(lambda: queued(path) == [])  # only the settle timer wrote this
    finally:
        await pubsub.stop()


async def test_a_success_waiting_to_be_recorded_is_recorded_by_the_next_publish(
    tmp_path: Path,
) -> None:
    path, handler = tmp_path / "pubsub.db", Recorder()
    pubsub = await LocalPubSub.open(path, poll_s=30, settle_delay_s=60)
    pubsub.subscribe(Subscription("orders", "shipping", handler))
    await pubsub.start()
    try:
        await pubsub.publish(order_placed("orders"))
        await wait_until(lambda: len(handler.events) == 1)
        await asyncio.sleep(0.05)
        assert queued(path) == [("shipping", 1)]  # delivered, its success not written yet
        await pubsub.publish(order_placed("nobody-listens"))  # a write, nothing to deliver
        assert queued(path) == []
    finally:
        await pubsub.stop()


async def test_stop_records_the_successes_still_waiting(tmp_path: Path) -> None:
    path, handler = tmp_path / "pubsub.db", Recorder()
    pubsub = await LocalPubSub.open(path, poll_s=30, settle_delay_s=60)
    pubsub.subscribe(Subscription("orders", "shipping", handler))
    await pubsub.start()
    await pubsub.publish(order_placed("orders"))
    await wait_until(lambda: len(handler.events) == 1)
    await pubsub.stop()
    assert queued(path) == []


async def test_a_retry_is_not_held_back_by_the_settle_delay(tmp_path: Path) -> None:
    handler = Recorder(Delivery.RETRY, RuntimeError("flaky"))
    pubsub = await LocalPubSub.open(
        tmp_path / "pubsub.db", retry_base_s=0.01, poll_s=30, settle_delay_s=60
    )
    pubsub.subscribe(Subscription("orders", "shipping", handler))
    await pubsub.start()
    try:
        await pubsub.publish(order_placed("orders"))
        await wait_until(lambda: len(handler.events) == 3, timeout_s=5)
    finally:
        await pubsub.stop()


async def test_a_batch_larger_than_the_slots_runs_at_most_max_concurrency(
    tmp_path: Path,
) -> None:
    pubsub = await LocalPubSub.open(tmp_path / "pubsub.db", max_concurrency=2, poll_s=30)
    running, peak, delivered = 0, 0, []
    release = asyncio.Event()

    async def handler(event: CloudEvent) -> Delivery:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        delivered.append(event.id)
        return Delivery.SUCCESS

    pubsub.subscribe(Subscription("orders", "shipping", handler))
    await pubsub.start()
    try:
        events = [order_placed("orders") for _ in range(5)]
        await pubsub.publish_batch(events[:3])
        await pubsub.publish_batch(events[3:])
        await wait_until(lambda: running == 2)
        await asyncio.sleep(0.05)
        assert running == 2
        release.set()
        await wait_until(lambda: len(delivered) == 5)
    finally:
        await pubsub.stop()
    assert peak == 2 and sorted(delivered) == sorted(e.id for e in events)


async def test_a_handler_runs_in_the_subscribers_context_not_the_publishers(
    tmp_path: Path,
) -> None:
    shop = contextvars.ContextVar("shop", default="none")
    seen: list[str] = []

    async def handler(event: CloudEvent) -> Delivery:
        seen.append(shop.get())
        return Delivery.SUCCESS

    pubsub = await LocalPubSub.open(tmp_path / "pubsub.db", poll_s=30)
    pubsub.subscribe(Subscription("orders", "shipping", handler))
    await pubsub.start()
    try:

        async def request() -> None:  # a request of some shop publishes directly
            shop.set("acme")
            await pubsub.publish(order_placed("orders"))

        await asyncio.create_task(request())
        await wait_until(lambda: len(seen) == 1)
    finally:
        await pubsub.stop()
    assert seen == ["none"]


async def test_kill_before_a_success_is_recorded_delivers_again_and_the_inbox_takes_it_once(
    tmp_path: Path,
) -> None:
    db = Database(
        f"sqlite+aiosqlite:///{tmp_path / 'shipping.db'}",
        service="outbox-test",
        migrations=MIGRATIONS,
    )
    await db.migrate()
    path = tmp_path / "pubsub.db"
    subscriber = await spawn_module(
        "tests.integration.kit.blocks.local_subscriber",
        db.engine.url.render_as_string(hide_password=False),
        str(path),
    )
    assert subscriber.stdout is not None
    line = await asyncio.wait_for(subscriber.stdout.readline(), timeout=30)
    subscriber.send_signal(signal.SIGKILL)  # handled and committed; the success not recorded
    await subscriber.wait()
    assert line.startswith(b"handled ")
    assert queued(path) == [("shipping", 1)]

    calls: list[str] = []

    async def ship(session: AsyncSession, event: CloudEvent) -> None:
        await increment(session, "shipments")

    apply = idempotent_handler(db, "shipping", ship)

    async def handler(event: CloudEvent) -> Delivery:
        calls.append(event.id)
        return await apply(event)

    after = LocalPubSub(path, poll_s=0.05)
    after.subscribe(Subscription("orders.placed", consumer="shipping", handler=handler))
    await after.start()
    try:
        await eventually(lambda: len(calls) == 1, timeout_s=10)
    finally:
        await after.stop()
    assert calls == [line.split()[1].decode()]
    assert await counter(db, "shipments") == 1  # the effect of the first delivery, only
    assert queued(path) == []
    await db.dispose()
