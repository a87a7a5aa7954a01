"""The topics payments consumes: `order.cancelled` refunds a captured payment in full
(once) or cancels an open intent. Runs inside `idempotent_handler` (inbox)."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, Subscription
from shopfleet.kit.contracts.events import ORDER_CANCELLED, OrderCancelled
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import PermanentEventError, idempotent_handler
from shopfleet.payments.service import PaymentsService

CONSUMER = "payments"


def subscriptions(db: Database, payments: PaymentsService) -> list[Subscription]:
    async def on_order_cancelled(session: AsyncSession, event: CloudEvent) -> None:
        try:
            payload = OrderCancelled.model_validate(event.data)
        except ValidationError as exc:
            raise PermanentEventError(f"{event.topic} does not fit its contract: {exc}") from None
        await payments.order_cancelled(session, event.shop, payload.order_id)

    return [
        Subscription(
            ORDER_CANCELLED,
            consumer=CONSUMER,
            handler=idempotent_handler(db, CONSUMER, on_order_cancelled),
        )
    ]
