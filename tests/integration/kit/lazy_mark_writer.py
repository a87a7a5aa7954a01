"""A process that commits one event, lets its relay publish it, and waits to be killed.

Run by test_outbox_lazy_marks.py as `python -m tests.integration.kit.lazy_mark_writer
<db-url> <pubsub-file>`. Its relay marks lazily (after a minute), so when the process is
killed with SIGKILL right after the publish, the row is published and not yet marked.
It prints `published <event id>` once the publish has committed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.blocks.ports import CloudEvent
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import Outbox, OutboxRelay
from tests.integration.kit.test_outbox import MIGRATIONS


class TellingPubSub(LocalPubSub):
    async def publish_batch(self, events: Sequence[CloudEvent]) -> None:
        await super().publish_batch(events)
        print("\n".join(f"published {event.id}" for event in events), flush=True)


async def main(db_url: str, pubsub_path: str) -> None:
    db = Database(db_url, service="outbox-test", migrations=MIGRATIONS)
    relay = OutboxRelay(db, TellingPubSub(Path(pubsub_path)), source="orders", mark_delay_s=60)
    await relay.start()
    async with db.session() as session, session.begin():
        await Outbox.add(session, "orders.placed", {"order_id": "o-1"}, shop="acme")
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
