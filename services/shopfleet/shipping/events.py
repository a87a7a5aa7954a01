"""The topics shipping consumes: a paid order gets its shipment, a cancelled one loses it
(while not yet shipped).

Each handler runs in the router's inbox transaction: the inbox row and the change commit
together, so a redelivered event (same id) changes nothing; the unique order id of a
shipment makes a second `order.paid` under another id change nothing either.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import Subscription
from shopfleet.kit.contracts.events import ORDER_CANCELLED, ORDER_PAID, OrderCancelled, OrderPaid
from shopfleet.kit.db import Database
from shopfleet.kit.inbox import PermanentEventError
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received
from shopfleet.shipping.shipments import Shipments

CONSUMER = "shipping"
_MAX_ID = 64  # order and user ids fit the shipments table's columns


def _fits_our_columns(event: Received[OrderPaid | OrderCancelled]) -> None:
    for name, value in (("order_id", event.payload.order_id), ("user_id", event.payload.user_id)):
        if not value or len(value) > _MAX_ID:
            raise PermanentEventError(f"{event.topic}: {name} must have 1 to {_MAX_ID} characters")


def subscriptions(db: Database, shipments: Shipments) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    router = EventRouter(CONSUMER, DatabaseInbox(db))

    @router.on(ORDER_PAID)
    async def order_paid(session: AsyncSession, event: Received[OrderPaid]) -> None:
        _fits_our_columns(event)
        await shipments.order_paid(session, event.shop, event.payload)

    @router.on(ORDER_CANCELLED)
    async def order_cancelled(session: AsyncSession, event: Received[OrderCancelled]) -> None:
        _fits_our_columns(event)
        await shipments.order_cancelled(session, event.shop, event.payload)

    return router.subscriptions()
