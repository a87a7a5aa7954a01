"""The outbox relay killed for real (SIGKILL) while it publishes: no committed event is lost.

A writer process commits domain rows with their events and runs its relay; it is killed
at a random point — between a commit and its publish, or between a publish and its mark.
A new relay then publishes everything that was committed; the subscriber sees every
committed event at least once (a duplicate is allowed: consumers have an inbox). On
SQLite the mark comes a while after the publish: a kill in between publishes the event
again, and the consumer's inbox takes it once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.blocks.ports import CloudEvent, Delivery, Subscription
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OUTBOX, OutboxRelay, idempotent_handler
from tests.integration.kit.test_outbox import (
    COUNTERS,
    MIGRATIONS,
    counter,
    eventually,
    increment,
    unmarked,
)
from tests.support.processes import spawn_module


async def test_relay_killed_mid_publish_loses_nothing(
    database_url_factory: Callable[[str], Awaitable[str]], tmp_path: Path
) -> None:
    url = await database_url_factory("outbox-kill")
    db = Database(url, service="outbox-test", migrations=MIGRATIONS)
    await db.migrate()
    async with db.session() as session, session.begin():
        await session.execute(COUNTERS.insert().values(name="c", value=0))
    pubsub_file = tmp_path / "pubsub.db"
    received: list[str] = []

    async def audit(event: CloudEvent) -> Delivery:
        received.append(event.id)
        return Delivery.SUCCESS

    subscription = Subscription("orders.placed", consumer="audit", handler=audit)
    declare = LocalPubSub(pubsub_file)  # the durable queue exists before anything is sent
    declare.subscribe(subscription)
    await declare.start()
    await declare.stop()

    writer = await spawn_module("tests.integration.kit.outbox_writer", url, str(pubsub_file))
    assert writer.stdout is not None
    printed: list[str] = []
    while len(printed) < 60:
        line = await asyncio.wait_for(writer.stdout.readline(), timeout=30)
        assert line, "the writer exited early"
        printed.append(line.decode().strip())
    writer.send_signal(signal.SIGKILL)
    await writer.wait()
    printed += [line.strip() for line in (await writer.stdout.read()).decode().splitlines()]

    async with db.reader() as session:
        rows = (await session.execute(select(OUTBOX.c.id, OUTBOX.c.published_at))).all()
        counter = await session.scalar(select(COUNTERS.c.value))
    committed = {row.id for row in rows}
    assert set(printed) <= committed and counter == len(committed)
    assert any(row.published_at is None for row in rows), "killed too late to prove anything"

    survivor = LocalPubSub(pubsub_file, poll_s=0.05)
    survivor.subscribe(subscription)
    await survivor.start()
    relay = OutboxRelay(db, survivor, source="orders", poll_interval_s=0.02)
    await relay.start()
    try:
        deadline = time.monotonic() + 30
        while not committed <= set(received):
            assert time.monotonic() < deadline, f"lost {len(committed - set(received))} events"
            await asyncio.sleep(0.02)
        assert set(received) == committed  # nothing that was not committed
        while True:  # and marked, if lazily (on SQLite, within the relay's mark delay)
            async with db.reader() as session:
                unmarked = await session.scalar(
                    select(OUTBOX.c.id).where(OUTBOX.c.published_at.is_(None)).limit(1)
                )
            if unmarked is None:
                break
            assert time.monotonic() < deadline, "published but never marked"
            await asyncio.sleep(0.02)
    finally:
        await relay.stop(timeout_s=2)
        await survivor.stop()
        await db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL marks in its round
async def test_kill_before_the_lazy_mark_republishes_and_the_inbox_takes_it_once(
    database_url_factory: Callable[[str], Awaitable[str]], tmp_path: Path
) -> None:
    """The relay published, then the process died before the mark it had put off."""
    orders, shipping = [
        Database(await database_url_factory(name), service="outbox-test", migrations=MIGRATIONS)
        for name in ("orders", "shipping")
    ]
    await orders.migrate()
    await shipping.migrate()
    pubsub_file = tmp_path / "pubsub.db"
    deliveries: list[str] = []

    async def ship(session: AsyncSession, event: CloudEvent) -> None:
        await increment(session, "shipments")

    apply = idempotent_handler(shipping, "shipping", ship)

    async def handler(event: CloudEvent) -> Delivery:
        deliveries.append(event.id)
        return await apply(event)

    subscription = Subscription("orders.placed", consumer="shipping", handler=handler)
    declare = LocalPubSub(pubsub_file)  # the durable queue exists before anything is sent
    declare.subscribe(subscription)
    await declare.start()
    await declare.stop()

    writer = await spawn_module(
        "tests.integration.kit.lazy_mark_writer",
        orders.engine.url.render_as_string(hide_password=False),
        str(pubsub_file),
    )
    assert writer.stdout is not None
    line = await asyncio.wait_for(writer.stdout.readline(), timeout=30)
    writer.send_signal(signal.SIGKILL)  # published, and the mark a minute away
    await writer.wait()
    assert line.startswith(b"published ")
    event_id = line.split()[1].decode()
    assert await unmarked(orders) == {event_id}

    survivor = LocalPubSub(pubsub_file, poll_s=0.05)
    survivor.subscribe(subscription)
    await survivor.start()
    relay = OutboxRelay(orders, survivor, source="orders", poll_interval_s=0.02)
    await relay.start()
    try:
        # Once from the publish before the crash, once from the relay after it.
        await eventually(lambda: deliveries == [event_id, event_id], timeout_s=10)
        await relay.stop()
        await survivor.stop()
        assert await counter(shipping, "shipments") == 1
        assert await unmarked(orders) == set()
    finally:
        await relay.stop()
        await survivor.stop()
        await orders.dispose()
        await shipping.dispose()
