"""A process whose LocalPubSub delivers one event into an inbox-guarded handler, then
waits to be killed before the success is recorded.

Run by test_local_pubsub_writes.py as `python -m tests.integration.kit.blocks.local_subscriber
<db-url> <pubsub-file>`. It records successes lazily (after a minute) and prints
`handled <event id>` once the handler's effect has committed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.blocks.ports import CloudEvent, Delivery, Subscription, new_event_id
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import idempotent_handler
from tests.integration.kit.test_outbox import MIGRATIONS, increment


async def main(db_url: str, pubsub_path: str) -> None:
    db = Database(db_url, service="outbox-test", migrations=MIGRATIONS)

    async def ship(session: AsyncSession, event: CloudEvent) -> None:
        await increment(session, "shipments")

    apply = idempotent_handler(db, "shipping", ship)

    async def handler(event: CloudEvent) -> Delivery:
        answer = await apply(event)
        print(f"handled {event.id}", flush=True)
        return answer

    pubsub = LocalPubSub(Path(pubsub_path), settle_delay_s=60)
    pubsub.subscribe(Subscription("orders.placed", consumer="shipping", handler=handler))
    await pubsub.start()
    event = CloudEvent(id=new_event_id(), topic="orders.placed", data={"n": 1}, shop="acme")
    await pubsub.publish(event)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
