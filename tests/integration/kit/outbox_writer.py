"""A process that commits events through the outbox while its relay publishes them.

Run by test_outbox_kill.py as `python -m tests.integration.kit.outbox_writer <db-url>
<pubsub-file>`, and killed with SIGKILL mid-way: whatever it committed must still be
published, by the next relay, once the process is gone. It prints the id of each event
right after its transaction commits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import update

from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.blocks.ports import CloudEvent
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import Outbox, OutboxRelay
from tests.integration.kit.test_outbox import COUNTERS, MIGRATIONS


class RemoteBroker(LocalPubSub):
    """A publish that takes a network round trip, as a broker's does: the relay lags
    behind the writer, so a kill finds events committed and not yet published."""

    async def publish(self, event: CloudEvent) -> None:
        await asyncio.sleep(0.005)
        await super().publish(event)


async def main(db_url: str, pubsub_path: str) -> None:
    db = Database(db_url, service="outbox-test", migrations=MIGRATIONS)
    pubsub = RemoteBroker(Path(pubsub_path))
    relay = OutboxRelay(db, pubsub, source="orders", poll_interval_s=0.01)
    await relay.start()
    n = 0
    while True:  # until killed
        # Five events a transaction, each published in a round trip: the writer outpaces
        # its relay.
        async with db.session() as session, session.begin():
            await session.execute(update(COUNTERS).values(value=COUNTERS.c.value + 5))
            ids = [
                await Outbox.add(session, "orders.placed", {"n": n + i}, shop="acme")
                for i in range(5)
            ]
        print("\n".join(ids), flush=True)
        n += 5
        await asyncio.sleep(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
