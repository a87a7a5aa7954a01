"""A notifications process whose events' notifications are handed to its running worker.

Run by test_worker_kill.py as `python -m tests.integration.notifications.handing_worker
<db-url>` and killed with SIGKILL mid-way. It delivers `order.placed` events to the real
handler, one after another, and prints `committed <user>` once each event's transaction
committed and `sent <user>` once the sender took it (sends are slower than the events, so
a kill finds notifications handed, being sent, and waiting for a round).
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from shopfleet.kit.blocks.ports import CloudEvent, Delivery
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.db import Database
from shopfleet.notifications.app import MIGRATIONS
from shopfleet.notifications.deliveries import DeliveryWorker
from shopfleet.notifications.events import subscriptions
from shopfleet.notifications.senders import Outgoing, Sender
from tests.integration.notifications.conftest import Events

LEASE_S = 300


class SlowSender(Sender):
    name = "slow"

    async def send(self, message: Outgoing) -> None:
        await asyncio.sleep(0.02)
        print(f"sent {message.user_id}", flush=True)


async def main(db_url: str) -> None:
    db = Database(db_url, service="notifications", migrations=MIGRATIONS)
    worker = DeliveryWorker(
        db, SlowSender(), batch_size=5, concurrency=2, lease_s=LEASE_S, poll_interval_s=0.05
    )
    await worker.start()
    [placed] = [s for s in subscriptions(db, worker) if s.topic == ev.ORDER_PLACED.name]
    while True:  # until killed
        user = str(uuid.uuid4())
        event = CloudEvent(
            id=str(uuid.uuid4()),
            topic=placed.topic,
            data=Events(user).placed(),
            shop="acme",
            source="orders",
        )
        assert await placed.handler(event) == Delivery.SUCCESS
        print(f"committed {user}", flush=True)
        await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
