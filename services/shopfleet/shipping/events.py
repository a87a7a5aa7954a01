"""The topics shipping consumes: a paid order gets its shipment, a cancelled one loses it
(while not yet shipped).

Each handler runs inside `idempotent_handler`: the inbox row and the change commit
together, so a redelivered event (same id) changes nothing; the unique order id of a
shipment makes a second `order.paid` under another id change nothing either.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, Subscription
from shopfleet.kit.contracts.events import (
    ORDER_CANCELLED,
    ORDER_PAID,
    EventPayload,
    OrderCancelled,
    OrderPaid,
)
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import PermanentEventError, idempotent_handler
from shopfleet.shipping import shipments

CONSUMER = "shipping"
_MAX_ID = 64  # order and user ids fit the shipments table's columns

P = TypeVar("P", bound=EventPayload)


def _payload(model: type[P], event: CloudEvent) -> P:
    try:
        payload = model.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentEventError(
            f"{event.topic} payload does not fit its contract: {exc}"
        ) from None
    for name in ("order_id", "user_id"):
        value = getattr(payload, name)
        if not value or len(value) > _MAX_ID:
            raise PermanentEventError(f"{event.topic}: {name} must have 1 to {_MAX_ID} characters")
    return payload


async def on_order_paid(session: AsyncSession, event: CloudEvent) -> None:
    await shipments.create_for_paid_order(session, event.shop, _payload(OrderPaid, event))


async def on_order_cancelled(session: AsyncSession, event: CloudEvent) -> None:
    await shipments.cancel_for_order(session, event.shop, _payload(OrderCancelled, event))


HANDLERS = {ORDER_PAID: on_order_paid, ORDER_CANCELLED: on_order_cancelled}


def subscriptions(db: Database) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    return [
        Subscription(topic, consumer=CONSUMER, handler=idempotent_handler(db, CONSUMER, fn))
        for topic, fn in HANDLERS.items()
    ]
