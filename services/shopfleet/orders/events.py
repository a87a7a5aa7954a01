"""The topics orders consumes: payments' and shipping's events move the order along.

Each handler runs inside `idempotent_handler`: the inbox row and the order's change commit
together, so a redelivered event (same id) changes nothing; the transition table keeps a
different but older event (out of order) from moving an order backwards. After the commit,
whatever the change left for catalog (commit or release the stock) is done at once; if
catalog is down, the sweeper does it later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, Delivery, EventHandler, Subscription
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import PermanentEventError, idempotent_handler
from shopfleet.orders.service import Orders

CONSUMER = "orders"

P = TypeVar("P", bound=ev.EventPayload)


def _payload(model: type[P], event: CloudEvent) -> P:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentEventError(
            f"{event.topic} payload does not fit its contract: {exc}"
        ) from None


def _handlers(orders: Orders) -> dict[str, Callable[[AsyncSession, CloudEvent], Awaitable[None]]]:
    def bind(model: type[P], method: Callable[[AsyncSession, str, P], Awaitable[None]]):  # type: ignore[no-untyped-def]
        async def handle(session: AsyncSession, event: CloudEvent) -> None:
            await method(session, event.shop, _payload(model, event))

        return handle

    return {
        ev.PAYMENT_SUCCEEDED: bind(ev.PaymentSucceeded, orders.on_payment_succeeded),
        ev.PAYMENT_FAILED: bind(ev.PaymentFailed, orders.on_payment_failed),
        ev.PAYMENT_REFUNDED: bind(ev.PaymentRefunded, orders.on_payment_refunded),
        ev.SHIPMENT_CREATED: bind(ev.ShipmentCreated, orders.on_shipment_created),
        ev.SHIPMENT_STATUS_CHANGED: bind(
            ev.ShipmentStatusChanged, orders.on_shipment_status_changed
        ),
    }


def _then_settle(orders: Orders, inner: EventHandler) -> EventHandler:
    async def handle(event: CloudEvent) -> Delivery:
        outcome = await inner(event)
        order_id = event.data.get("order_id") if isinstance(event.data, dict) else None
        if outcome == Delivery.SUCCESS and isinstance(order_id, str):
            await orders.settle_stock(event.shop, order_id)
        return outcome

    return handle


def subscriptions(db: Database, orders: Orders) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    return [
        Subscription(
            topic, consumer=CONSUMER,
            handler=_then_settle(orders, idempotent_handler(db, CONSUMER, fn)),
        )
        for topic, fn in _handlers(orders).items()
    ]  # fmt: skip
