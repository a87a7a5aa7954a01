"""The topics notifications consumes: orders', payments' and shipping's events (each may
tell a shopper something), and identity's `user.registered` (where to reach them).

Each handler runs in the router's inbox transaction: the inbox row, the notification and
its pending delivery commit together, so a redelivered event changes nothing; sending is
the delivery worker's job, woken after the commit (the router's after-commit hook).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks import Subscription
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.topics import EventPayload, Topic
from shopfleet.kit.db import Database
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received
from shopfleet.notifications import service

CONSUMER = "notifications"

# The events a shopper may be told about (domain/messages.py says what, and which are noise).
TOLD: tuple[Topic[Any], ...] = (
    ev.ORDER_PLACED,
    ev.ORDER_PAID,
    ev.ORDER_CANCELLED,
    ev.PAYMENT_FAILED,
    ev.PAYMENT_REFUNDED,
    ev.SHIPMENT_CREATED,
    ev.SHIPMENT_STATUS_CHANGED,
)


def subscriptions(
    db: Database, *, now: Callable[[], datetime], wake: Callable[[], None]
) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub. `now` stamps when a
    new delivery is due; `wake` tells the delivery worker that one was committed."""
    router = EventRouter(CONSUMER, DatabaseInbox(db))

    async def wake_the_worker(_event: Received[EventPayload]) -> None:
        wake()

    async def tell(session: AsyncSession, event: Received[EventPayload]) -> None:
        await service.tell(session, event.shop, event.id, event.payload, due=now())

    for topic in TOLD:
        router.on(topic, after_commit=wake_the_worker)(tell)

    @router.on(ev.USER_REGISTERED)
    async def user_registered(session: AsyncSession, event: Received[ev.UserRegistered]) -> None:
        await service.remember_user(session, event.shop, event.payload)

    return router.subscriptions()
