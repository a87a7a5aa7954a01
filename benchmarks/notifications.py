"""CPU per notification of the notifications service's event path, in process.

`python -m benchmarks.notifications [--events 300] [--rate 50]`

`order.placed` events go to the real handler (inbox row, notification, its delivery) at a
steady rate, each for its own shopper, with the delivery worker running and the log
sender (its lines filtered out); the clock stops once every delivery is recorded
delivered. The process's CPU over that span, divided by the events, is printed: it holds
the handler's transaction, the worker's claims, sends and recorded outcomes, and its
polls. SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from shopfleet.kit.blocks.ports import CloudEvent
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.db import Database
from shopfleet.notifications.app import MIGRATIONS
from shopfleet.notifications.deliveries import DeliveryWorker
from shopfleet.notifications.events import subscriptions
from shopfleet.notifications.senders import LogSender
from shopfleet.notifications.store import deliveries_table


def placed(user_id: str) -> dict[str, Any]:
    def eur(amount: int) -> dict[str, Any]:
        return {"amount": amount, "currency": "EUR"}

    line = {
        "product_id": str(uuid.uuid4()),
        "name": "Mug",
        "sku": "MUG-1",
        "quantity": 2,
        "unit_price": eur(1250),
    }
    return {
        "order_id": str(uuid.uuid4()),
        "user_id": user_id,
        "lines": [line],
        "subtotal": eur(2500),
        "shipping": eur(490),
        "total": eur(2990),
        "shipping_method_id": "standard",
        "placed_at": datetime.now(UTC).isoformat(),
    }


async def undelivered(db: Database) -> int:
    query = sa.select(sa.func.count()).where(deliveries_table.c.status != "delivered")
    async with db.reader() as session:
        return int((await session.execute(query)).scalar_one())


async def run(events: int, rate: float) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    directory = Path(tempfile.mkdtemp())
    db = Database(
        f"sqlite+aiosqlite:///{directory / 'notifications.db'}",
        service="notifications",
        migrations=MIGRATIONS,
    )
    await db.migrate()
    worker = DeliveryWorker(db, LogSender())
    await worker.start()
    [handler] = [s.handler for s in subscriptions(db, worker) if s.topic == ev.ORDER_PLACED.name]
    batch = [
        CloudEvent(
            id=str(uuid.uuid4()),
            topic=ev.ORDER_PLACED.name,
            data=placed(str(uuid.uuid4())),
            shop="demo",
            source="orders",
        )
        for _ in range(events)
    ]
    await asyncio.sleep(1.5)  # the worker's first rounds, migrations' aftermath
    cpu, wall = time.process_time(), time.monotonic()
    for event in batch:
        await handler(event)
        await asyncio.sleep(1 / rate)
    for _ in range(6000):  # until all are delivered (a look every 50 ms, 5 min at most)
        if not await undelivered(db):
            break
        await asyncio.sleep(0.05)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    await worker.stop()
    await db.dispose()
    print(
        f"{cpu / events * 1000:.2f} ms of CPU per notification "
        f"({events} events at {rate:g}/s, {wall:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="events a second")
    args = parser.parse_args()
    asyncio.run(run(args.events, args.rate))


if __name__ == "__main__":
    main()
