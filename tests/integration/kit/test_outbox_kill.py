"""The outbox relay killed for real (SIGKILL) while it publishes: no committed event is lost.

A writer process commits domain rows with their events and runs its relay; it is killed
at a random point — between a commit and its publish, or between a publish and its mark.
A new relay then publishes everything that was committed; the subscriber sees every
committed event at least once (a duplicate is allowed: consumers have an inbox).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.blocks.ports import CloudEvent, Delivery, Subscription
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OUTBOX, OutboxRelay
from tests.integration.kit.test_outbox import COUNTERS, MIGRATIONS

ROOT = Path(__file__).resolve().parents[3]


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

    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.kit.outbox_writer",
        url,
        str(pubsub_file),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), str(ROOT / "services"), os.environ.get("PYTHONPATH", "")]
            ),
        },
    )
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
        async with db.reader() as session:
            unmarked = await session.scalar(
                select(OUTBOX.c.id).where(OUTBOX.c.published_at.is_(None)).limit(1)
            )
        assert unmarked is None
    finally:
        await relay.stop(timeout_s=2)
        await survivor.stop()
        await db.dispose()
