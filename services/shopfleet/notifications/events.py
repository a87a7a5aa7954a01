"""The topics notifications consumes: orders', payments' and shipping's events (each may
tell a shopper something), and identity's `user.registered` (where to reach them).

Each handler runs in the router's inbox transaction: the inbox row, the notification and
its pending delivery commit together, so a redelivered event changes nothing; sending is
the delivery worker's job. A running worker gets the new notification leased to it and
handed over once the transaction committed (no claim round: deliveries.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks import Subscription
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.topics import EventPayload, Topic
from shopfleet.kit.db import Database
from shopfleet.kit.on_commit import after_commit
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received
from shopfleet.notifications import service
from shopfleet.notifications.deliveries import DeliveryWorker

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


def subscriptions(db: Database, worker: DeliveryWorker) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub; `worker` sends
    what the handlers record."""
    router = EventRouter(CONSUMER, DatabaseInbox(db))

    async def tell(session: AsyncSession, event: Received[EventPayload]) -> None:
        leased_until = worker.lease_for_new()
        due = leased_until or worker.now()
        told = await service.tell(session, event.shop, event.id, event.payload, due=due)
        if told is not None:
            after_commit(session, lambda: worker.hand(told) if leased_until else worker.notify())

    for topic in TOLD:
        router.on(topic)(tell)

    @router.on(ev.USER_REGISTERED)
    async def user_registered(session: AsyncSession, event: Received[ev.UserRegistered]) -> None:
        await service.remember_user(session, event.shop, event.payload)

    return router.subscriptions()
