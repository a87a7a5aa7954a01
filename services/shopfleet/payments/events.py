"""The topics payments consumes: `order.cancelled` refunds a captured payment in full
(once) or cancels an open intent. Runs in the router's inbox transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import Subscription
from shopfleet.kit.contracts.events import ORDER_CANCELLED, OrderCancelled
from shopfleet.kit.db import Database
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received
from shopfleet.payments.service import PaymentsService

CONSUMER = "payments"


def subscriptions(db: Database, payments: PaymentsService) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    router = EventRouter(CONSUMER, DatabaseInbox(db))

    @router.on(ORDER_CANCELLED)
    async def order_cancelled(session: AsyncSession, event: Received[OrderCancelled]) -> None:
        await payments.order_cancelled(session, event.shop, event.payload.order_id)

    return router.subscriptions()
