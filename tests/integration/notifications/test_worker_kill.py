"""The delivery worker killed for real (SIGKILL) while events' notifications are handed to
it, sent, and claimed by its rounds: every committed notification is still delivered, by
another worker once the leases ran out (at least once: one the dead worker sent but did
not record may go twice)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from shopfleet.kit.db import Database
from shopfleet.notifications.app import MIGRATIONS
from shopfleet.notifications.deliveries import DeliveryWorker
from shopfleet.notifications.senders import Outgoing, Sender
from shopfleet.notifications.store import deliveries_table, notifications_table
from tests.integration.notifications.handing_worker import LEASE_S
from tests.support.clock import FakeClock
from tests.support.processes import spawn_module


class Recording(Sender):
    name = "recording"

    def __init__(self) -> None:
        self.users: list[str] = []

    async def send(self, message: Outgoing) -> None:
        self.users.append(message.user_id)


async def statuses(db: Database) -> dict[str, str]:
    """Each notification's user and its delivery's status."""
    joined = notifications_table.join(
        deliveries_table, deliveries_table.c.notification_id == notifications_table.c.id
    )
    query = sa.select(notifications_table.c.user_id, deliveries_table.c.status)
    async with db.reader() as session:
        rows = (await session.execute(query.select_from(joined))).all()
    return {row.user_id: row.status for row in rows}


async def test_a_killed_worker_loses_no_notification(
    database_url_factory: Callable[[str], Awaitable[str]],
) -> None:
    url = await database_url_factory("notifications-kill")
    db = Database(url, service="notifications", migrations=MIGRATIONS)
    await db.migrate()
    child = await spawn_module("tests.integration.notifications.handing_worker", url)
    assert child.stdout is not None
    printed: list[str] = []
    while sum(line.startswith("committed") for line in printed) < 40:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert line, "the process exited early"
        printed.append(line.decode().strip())
    child.send_signal(signal.SIGKILL)
    await child.wait()
    printed += (await child.stdout.read()).decode().splitlines()
    committed = {line.split()[1] for line in printed if line.startswith("committed")}
    sent_before = {line.split()[1] for line in printed if line.startswith("sent")}

    try:
        before = await statuses(db)
        assert committed <= set(before)  # one notification per committed event
        assert "pending" in before.values(), "killed too late to prove anything"

        clock = FakeClock()
        clock.advance(LEASE_S)  # the dead worker's leases ran out
        sender = Recording()
        survivor = DeliveryWorker(db, sender, lease_s=LEASE_S, clock=clock)
        while await survivor.run_once():
            pass
        after = await statuses(db)
        assert set(after.values()) == {"delivered"}
        assert set(after) <= sent_before | set(sender.users)  # each sent, at least once
        assert len(sender.users) == len(set(sender.users))  # the survivor sent each once
        assert not set(sender.users) & {u for u, s in before.items() if s == "delivered"}
    finally:
        await db.dispose()
